package kube

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/util/retry"
)

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

// StatusWriter keeps each served Ingress's status.loadBalancer equal to the
// published Service's (the LoadBalancer in front of rampart), as kubectl
// get ingress shows it. Only the Lease's holder writes. The zero value is
// not usable; use NewStatusWriter.
type StatusWriter struct {
	client  kubernetes.Interface
	publish string // "namespace/name"
	leader  *Leader
	latest  chan statusWork
	onError func(ingress string, err error)
}

type statusWork struct {
	snap   Snapshot
	served []string
}

// NewStatusWriter writes for the Service publish ("namespace/name") while
// leader is held; onError, if not nil, hears of each write that failed.
func NewStatusWriter(client kubernetes.Interface, publish string, leader *Leader, onError func(string, error)) *StatusWriter {
	return &StatusWriter{client: client, publish: publish, leader: leader, latest: make(chan statusWork, 1), onError: onError}
}

// Offer hands the writer the cluster as a table was built from it; the
// writer keeps only the latest.
func (w *StatusWriter) Offer(snap Snapshot, served []string) {
	select {
	case <-w.latest: // a newer snapshot replaces one not yet written
	default:
	}
	w.latest <- statusWork{snap, served}
}

// Run writes until ctx ends: at each offer, and every 10 seconds (so a
// replica that becomes the leader writes what is due).
func (w *StatusWriter) Run(ctx context.Context) {
	var cur *statusWork
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-w.latest:
			cur = &s
		case <-time.After(10 * time.Second):
		}
		if cur != nil && w.leader.Held() {
			w.write(ctx, *cur)
		}
	}
}

func (w *StatusWriter) write(ctx context.Context, s statusWork) {
	var want []networkingv1.IngressLoadBalancerIngress
	for _, svc := range s.snap.Services {
		if svc.Namespace+"/"+svc.Name != w.publish {
			continue
		}
		for _, lb := range svc.Status.LoadBalancer.Ingress {
			in := networkingv1.IngressLoadBalancerIngress{IP: lb.IP, Hostname: lb.Hostname}
			for _, p := range lb.Ports {
				in.Ports = append(in.Ports, networkingv1.IngressPortStatus{Port: p.Port, Protocol: p.Protocol, Error: p.Error})
			}
			want = append(want, in)
		}
	}
	for _, ing := range s.snap.Ingresses {
		id := ing.Namespace + "/" + ing.Name
		if !slices.Contains(s.served, id) || apiequality.Semantic.DeepEqual(ing.Status.LoadBalancer.Ingress, want) {
			continue
		}
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := w.client.NetworkingV1().Ingresses(ing.Namespace).Get(ctx, ing.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Status.LoadBalancer.Ingress = want
			_, err = w.client.NetworkingV1().Ingresses(ing.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
			return err
		})
		if err != nil && !apierrors.IsNotFound(err) && w.onError != nil {
			w.onError(id, err)
		}
	}
}
