package kube

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"strings"

	"golang.org/x/crypto/acme/autocert"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
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
	// Secrets reaches the API server's Secrets. Required.
	Secrets typedcorev1.SecretsGetter
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
	s, err := c.Secrets.Secrets(c.Namespace).Get(ctx, secretName(key), metav1.GetOptions{})
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
	secrets := c.Secrets.Secrets(c.Namespace)
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
	err := c.Secrets.Secrets(c.Namespace).Delete(ctx, secretName(key), metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
