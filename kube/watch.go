package kube

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// SecretTypeTLS is the one type of Secret the watcher caches: the API
// server filters on it, so no other Secret ever reaches rampart's memory.
const SecretTypeTLS = string(corev1.SecretTypeTLS)

// WatchConfig configures a Watcher.
type WatchConfig struct {
	// Client reaches the API server. Required.
	Client kubernetes.Interface
	// Debounce is how long a change waits for the ones after it, so that a
	// burst (a Deployment rolled, a namespace applied) builds one table.
	// Zero means 100 ms.
	Debounce time.Duration
}

// Watcher keeps an informer cache of the kinds Translate reads (Ingress,
// IngressClass, Service, EndpointSlice, and Secrets of type
// kubernetes.io/tls only) and tells, through Changed, when any of them
// changed. Managed fields are stripped before an object is cached: they
// are often the larger part of an object, and rampart never reads them.
type Watcher struct {
	cfg     WatchConfig
	factory informers.SharedInformerFactory
	secrets informers.SharedInformerFactory
	raw     chan struct{} // an informer saw a change (cap 1: a burst is one)
	changed chan struct{} // Changed's: raw, debounced
	synced  []cache.InformerSynced

	ingresses informerLister[*networkingv1.Ingress]
	classes   informerLister[*networkingv1.IngressClass]
	services  informerLister[*corev1.Service]
	slices    informerLister[*discoveryv1.EndpointSlice]
	tls       informerLister[*corev1.Secret]
}

type informerLister[T any] interface {
	List(labels.Selector) ([]T, error)
}

// NewWatcher prepares the informers; Run starts them.
func NewWatcher(cfg WatchConfig) (*Watcher, error) {
	if cfg.Client == nil {
		return nil, errors.New("kube: the watcher needs a client")
	}
	if cfg.Debounce == 0 {
		cfg.Debounce = 100 * time.Millisecond
	}
	w := &Watcher{cfg: cfg, raw: make(chan struct{}, 1), changed: make(chan struct{}, 1)}
	w.factory = informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0, informers.WithTransform(stripManagedFields))
	w.secrets = informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0, informers.WithTransform(stripManagedFields),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("type", SecretTypeTLS).String()
		}))
	ing := w.factory.Networking().V1().Ingresses()
	ic := w.factory.Networking().V1().IngressClasses()
	svc := w.factory.Core().V1().Services()
	es := w.factory.Discovery().V1().EndpointSlices()
	sec := w.secrets.Core().V1().Secrets()
	w.ingresses, w.classes, w.services, w.slices, w.tls = ing.Lister(), ic.Lister(), svc.Lister(), es.Lister(), sec.Lister()
	for _, inf := range []cache.SharedIndexInformer{ing.Informer(), ic.Informer(), svc.Informer(), es.Informer(), sec.Informer()} {
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { w.poke() },
			UpdateFunc: func(any, any) { w.poke() },
			DeleteFunc: func(any) { w.poke() },
		}); err != nil {
			return nil, err
		}
		w.synced = append(w.synced, inf.HasSynced)
	}
	return w, nil
}

// Poke asks for a rebuild as a change would (the Secrets that auth-secret
// names are read, not watched: a caller pokes now and then to see them change).
func (w *Watcher) Poke() { w.poke() }

func (w *Watcher) poke() {
	select {
	case w.raw <- struct{}{}:
	default: // one is pending: this change is in it
	}
}

// Changed delivers a value after the cache changed and settled for the
// debounce; a burst of changes is one value. Read Snapshot then.
func (w *Watcher) Changed() <-chan struct{} { return w.changed }

// Run starts the informers and returns once their caches are filled (the
// first Snapshot is then whole), or with ctx's error. The informers, and
// the debouncing of Changed, go on until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	w.factory.Start(ctx.Done())
	w.secrets.Start(ctx.Done())
	go w.debounce(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), w.synced...) {
		return fmt.Errorf("kube: the caches did not fill: %w", context.Cause(ctx))
	}
	return nil
}

func (w *Watcher) debounce(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.raw:
		}
		t := time.NewTimer(w.cfg.Debounce)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		select {
		case <-w.raw: // what came during the wait is in the snapshot read next
		default:
		}
		select {
		case w.changed <- struct{}{}:
		default:
		}
	}
}

// Snapshot copies what the caches hold now. The objects are shared with
// the cache: a reader must not change them.
func (w *Watcher) Snapshot() Snapshot {
	var s Snapshot
	s.Ingresses = deref(w.ingresses.List(labels.Everything()))
	s.IngressClasses = deref(w.classes.List(labels.Everything()))
	s.Services = deref(w.services.List(labels.Everything()))
	s.EndpointSlices = deref(w.slices.List(labels.Everything()))
	s.Secrets = deref(w.tls.List(labels.Everything()))
	return s
}

// deref copies the listed objects' structs (the cache's maps and slices
// inside them stay shared).
func deref[T any](list []*T, err error) []T {
	if err != nil { // the listers of a started cache do not fail
		return nil
	}
	out := make([]T, len(list))
	for i, p := range list {
		out[i] = *p
	}
	return out
}

// stripManagedFields drops what rampart never reads from an object before
// it is cached: managed fields (often half an object), and the
// last-applied annotation kubectl keeps (a second copy of the object).
func stripManagedFields(obj any) (any, error) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return d, nil
	}
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
		if a := m.GetAnnotations(); a[corev1.LastAppliedConfigAnnotation] != "" {
			delete(a, corev1.LastAppliedConfigAnnotation)
			m.SetAnnotations(a)
		}
	}
	return obj, nil
}
