package kube

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/acme/autocert"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/util/retry"
)

// Secrets of the ACME cache: their type keeps them out of the TLS-only
// watch, their label says who made them, their annotation what they hold.
const (
	ACMESecretType    = "rampart-proxy.io/acme-cache"
	acmeKeyAnnotation = "rampart-proxy.io/acme-key"
	managedByLabel    = "app.kubernetes.io/managed-by"
	acmeSecretPrefix  = "rampart-acme-"
)

// SecretCache is an autocert.Cache kept in Secrets of one namespace
// (rampart's own), so that every replica shares the ACME account, the
// certificates and the challenge answers. Every call goes to the API
// server, never to a cache of rampart's: the replica about to order reads
// what another may have just written. The zero value is not usable.
type SecretCache struct {
	// Client reaches the API server. Required.
	Client kubernetes.Interface
	// Namespace holds the Secrets. Required.
	Namespace string
}

var _ autocert.Cache = (*SecretCache)(nil)

// secretName is a valid Secret name for an autocert key ("+" and "_" are
// not allowed in names): a hash of it.
func secretName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return acmeSecretPrefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:])[:26])
}

// Get reads key from its Secret, or returns autocert.ErrCacheMiss.
func (c *SecretCache) Get(ctx context.Context, key string) ([]byte, error) {
	s, err := c.Client.CoreV1().Secrets(c.Namespace).Get(ctx, secretName(key), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, autocert.ErrCacheMiss
	}
	if err != nil {
		return nil, err
	}
	if s.Annotations[acmeKeyAnnotation] != key {
		return nil, errors.New("kube: ACME cache Secret " + s.Name + " holds another key")
	}
	return s.Data["value"], nil
}

// Put writes key's Secret: creates it, or replaces its value.
func (c *SecretCache) Put(ctx context.Context, key string, data []byte) error {
	secrets := c.Client.CoreV1().Secrets(c.Namespace)
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: secretName(key), Namespace: c.Namespace,
			Labels: map[string]string{managedByLabel: "rampart"}, Annotations: map[string]string{acmeKeyAnnotation: key}},
		Type: ACMESecretType,
		Data: map[string][]byte{"value": data},
	}
	_, err := secrets.Create(ctx, s, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := secrets.Get(ctx, s.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Data = s.Data
		_, err = secrets.Update(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}

// Delete removes key's Secret; one already gone is no error.
func (c *SecretCache) Delete(ctx context.Context, key string) error {
	err := c.Client.CoreV1().Secrets(c.Namespace).Delete(ctx, secretName(key), metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// LeaseName is the Lease whose holder alone orders certificates.
const LeaseName = "rampart-acme"

// Leader tells whether this replica holds the Lease that lets one replica
// at a time order certificates. The zero value holds nothing.
type Leader struct{ held atomic.Bool }

// Held tells whether this replica leads now.
func (l *Leader) Held() bool { return l.held.Load() }

// ElectionConfig configures RunElection.
type ElectionConfig struct {
	Client    kubernetes.Interface // required
	Namespace string               // the Lease's; required
	Identity  string               // this replica's, unique (the Pod's name); required
	// LeaseDuration is how long a leader that stopped renewing keeps the
	// Lease before another may take it. Zero means 15 seconds; the leader
	// renews within two thirds of it.
	LeaseDuration time.Duration
	// OnLost is called if this replica led and lost the Lease (it could not
	// renew in time): it must stop ordering at once, and rampart stops, to
	// rejoin as a follower. Nil means nothing is called.
	OnLost func()
	// OnNewLeader is called with each new leader's identity. Nil: none.
	OnNewLeader func(identity string)
}

// RunElection competes for the Lease until ctx ends, keeping l up to date.
// The Lease is not released on the way out: an order the leader began may
// still be running, and leader election does not fence; another replica
// takes over once the Lease expires.
func RunElection(ctx context.Context, cfg ElectionConfig, l *Leader) {
	d := cfg.LeaseDuration
	if d == 0 {
		d = 15 * time.Second
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: LeaseName, Namespace: cfg.Namespace},
		Client:     cfg.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: cfg.Identity},
	}
	for ctx.Err() == nil {
		leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
			Lock:          lock,
			LeaseDuration: d,
			RenewDeadline: d * 2 / 3,
			RetryPeriod:   max(d/8, 250*time.Millisecond),
			Name:          LeaseName,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(context.Context) { l.held.Store(true) },
				OnStoppedLeading: func() {
					if l.held.Swap(false) && ctx.Err() == nil && cfg.OnLost != nil {
						cfg.OnLost()
					}
				},
				OnNewLeader: func(id string) {
					if cfg.OnNewLeader != nil {
						cfg.OnNewLeader(id)
					}
				},
			},
		})
	}
}
