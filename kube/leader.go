package kube

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// LeaseName is the Lease whose holder alone orders certificates.
const LeaseName = "rampart-acme"

// Leader tells whether this replica holds the Lease that lets one replica
// at a time order certificates and write status. The zero value holds
// nothing.
type Leader struct {
	until atomic.Int64 // unix nanoseconds: held before then
}

// Held tells whether this replica leads now: it renewed the Lease, and
// less than two thirds of the Lease's duration has passed since it began
// that renewal (another replica waits a whole duration from when it saw
// it, so the two never overlap).
func (l *Leader) Held() bool { return time.Now().UnixNano() < l.until.Load() }

// ElectionConfig configures RunElection.
type ElectionConfig struct {
	Clients   *Clients // required
	Namespace string   // the Lease's; required
	Identity  string   // this replica's, unique (the Pod's name); required
	// LeaseDuration is how long a leader that stopped renewing keeps the
	// Lease before another may take it, in whole seconds (the Lease's
	// unit; a fraction is dropped). Zero means 15 seconds; the leader
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
// It is client-go's leader election on a Lease, written here (client-go's
// elector and lock packages import its whole clientset and informer
// factory, which would bring every API group into the binary): a Lease is
// taken when it has no holder, or its holder has not renewed it within its
// duration as this replica observed it (no clock is compared across
// machines); every write is conditional on the version read, so two
// replicas never both take it. The leader renews it every eighth of the
// duration, and one that cannot for two thirds of it stops leading. The
// Lease is not released on the way out: an order the leader began may
// still be running, and leader election does not fence; another replica
// takes over once the Lease expires.
func RunElection(ctx context.Context, cfg ElectionConfig, l *Leader) {
	d := cfg.LeaseDuration.Truncate(time.Second)
	if d == 0 {
		d = 15 * time.Second
	}
	e := &elector{cfg: cfg, d: d, leases: cfg.Clients.Coordination.Leases(cfg.Namespace)}
	retry := max(d/8, 250*time.Millisecond)
	led := false
	for ctx.Err() == nil {
		began := time.Now() // before the read: the Lease's life counts from here
		attempt, cancel := context.WithTimeout(ctx, retry*2)
		ok := e.tryAcquireOrRenew(attempt)
		cancel()
		switch {
		case ok:
			l.until.Store(began.Add(d * 2 / 3).UnixNano())
			led = true
		case e.otherHolds():
			l.until.Store(0)
		}
		if led && !l.Held() {
			led = false
			if ctx.Err() == nil && cfg.OnLost != nil {
				cfg.OnLost()
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(retry):
		}
	}
	l.until.Store(0)
}

// elector is one replica's view of the Lease.
type elector struct {
	cfg        ElectionConfig
	d          time.Duration
	leases     coordinationv1client.LeaseInterface
	holder     string    // as last seen
	version    string    // the Lease's resourceVersion as last seen
	observedAt time.Time // when this replica last saw the Lease change
}

func (e *elector) otherHolds() bool { return e.holder != "" && e.holder != e.cfg.Identity }

// observe records what the Lease says now, telling of a new holder.
func (e *elector) observe(lease *coordinationv1.Lease) {
	if lease.ResourceVersion == e.version {
		return
	}
	holder := ptr.Deref(lease.Spec.HolderIdentity, "")
	if holder != e.holder && holder != "" && e.cfg.OnNewLeader != nil {
		e.cfg.OnNewLeader(holder)
	}
	e.holder, e.version, e.observedAt = holder, lease.ResourceVersion, time.Now()
}

// tryAcquireOrRenew takes or renews the Lease, and tells whether this
// replica holds it now.
func (e *elector) tryAcquireOrRenew(ctx context.Context) bool {
	now := metav1.NewMicroTime(time.Now())
	cur, err := e.leases.Get(ctx, LeaseName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: LeaseName, Namespace: e.cfg.Namespace},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &e.cfg.Identity, LeaseDurationSeconds: ptr.To(int32(e.d / time.Second)),
				AcquireTime: &now, RenewTime: &now}}
		created, err := e.leases.Create(ctx, lease, metav1.CreateOptions{})
		if err != nil {
			return false
		}
		e.observe(created)
		return true
	}
	if err != nil {
		return false
	}
	e.observe(cur)
	held := e.holder == e.cfg.Identity
	if !held && e.holder != "" && time.Since(e.observedAt) < time.Duration(ptr.Deref(cur.Spec.LeaseDurationSeconds, 0))*time.Second {
		return false // another's, and alive as far as this replica has seen
	}
	next := cur.DeepCopy()
	next.Spec.HolderIdentity, next.Spec.LeaseDurationSeconds, next.Spec.RenewTime = &e.cfg.Identity, ptr.To(int32(e.d/time.Second)), &now
	if !held {
		next.Spec.AcquireTime = &now
		next.Spec.LeaseTransitions = ptr.To(ptr.Deref(cur.Spec.LeaseTransitions, 0) + 1)
	}
	updated, err := e.leases.Update(ctx, next, metav1.UpdateOptions{}) // conditional on cur's resourceVersion
	if err != nil {
		return false
	}
	e.observe(updated)
	return true
}

// StatusWriter keeps each served Ingress's status.loadBalancer equal to the
// published Service's (the LoadBalancer in front of rampart), as kubectl
// get ingress shows it. Only the Lease's holder writes. The zero value is
// not usable; use NewStatusWriter.
type StatusWriter struct {
	client  *Clients
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
func NewStatusWriter(client *Clients, publish string, leader *Leader, onError func(string, error)) *StatusWriter {
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
			cur, err := w.client.Networking.Ingresses(ing.Namespace).Get(ctx, ing.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Status.LoadBalancer.Ingress = want
			_, err = w.client.Networking.Ingresses(ing.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
			return err
		})
		if err != nil && !apierrors.IsNotFound(err) && w.onError != nil {
			w.onError(id, err)
		}
	}
}
