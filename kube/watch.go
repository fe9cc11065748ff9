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
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// SecretTypeTLS is the one type of Secret the watcher caches: the API
// server filters on it, so no other Secret ever reaches rampart's memory.
const SecretTypeTLS = string(corev1.SecretTypeTLS)

// WatchConfig configures a Watcher.
type WatchConfig struct {
	// Clients reach the API server. Required.
	Clients *Clients
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
	raw     chan struct{} // an informer saw a change (cap 1: a burst is one)
	changed chan struct{} // Changed's: raw, debounced
	all     []cache.SharedIndexInformer

	ingresses, classes, services, slices, tls cache.SharedIndexInformer
}

// NewWatcher prepares the informers; Run starts them. They are built from
// list and watch calls of the typed clients (not client-go's informer
// factory, which would bring every API group into the binary).
func NewWatcher(cfg WatchConfig) (*Watcher, error) {
	if cfg.Clients == nil {
		return nil, errors.New("kube: the watcher needs clients")
	}
	if cfg.Debounce == 0 {
		cfg.Debounce = 100 * time.Millisecond
	}
	c := cfg.Clients
	w := &Watcher{cfg: cfg, raw: make(chan struct{}, 1), changed: make(chan struct{}, 1)}
	w.ingresses = informer(&networkingv1.Ingress{}, c.Networking.Ingresses("").List, c.Networking.Ingresses("").Watch, nil)
	w.classes = informer(&networkingv1.IngressClass{}, c.Networking.IngressClasses().List, c.Networking.IngressClasses().Watch, nil)
	w.services = informer(&corev1.Service{}, c.Core.Services("").List, c.Core.Services("").Watch, nil)
	w.slices = informer(&discoveryv1.EndpointSlice{}, c.Discovery.EndpointSlices("").List, c.Discovery.EndpointSlices("").Watch, nil)
	w.tls = informer(&corev1.Secret{}, c.Core.Secrets("").List, c.Core.Secrets("").Watch, func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("type", SecretTypeTLS).String()
	})
	w.all = []cache.SharedIndexInformer{w.ingresses, w.classes, w.services, w.slices, w.tls}
	for _, inf := range w.all {
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { w.poke() },
			UpdateFunc: func(any, any) { w.poke() },
			DeleteFunc: func(any) { w.poke() },
		}); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// informer lists and watches one kind, every namespace, each object
// stripped before it is stored; tweak, if not nil, narrows the list.
func informer[L runtime.Object](example runtime.Object, list func(context.Context, metav1.ListOptions) (L, error),
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error), tweak func(*metav1.ListOptions)) cache.SharedIndexInformer {
	if tweak == nil {
		tweak = func(*metav1.ListOptions) {}
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			tweak(&o)
			return list(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			tweak(&o)
			return watchFn(ctx, o)
		},
	}
	inf := cache.NewSharedIndexInformer(lw, example, 0, cache.Indexers{})
	_ = inf.SetTransform(stripManagedFields) // before Run: cannot fail
	return inf
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
	synced := make([]cache.InformerSynced, len(w.all))
	for i, inf := range w.all {
		go inf.RunWithContext(ctx)
		synced[i] = inf.HasSynced
	}
	go w.debounce(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
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
	s.Ingresses = stored[networkingv1.Ingress](w.ingresses)
	s.IngressClasses = stored[networkingv1.IngressClass](w.classes)
	s.Services = stored[corev1.Service](w.services)
	s.EndpointSlices = stored[discoveryv1.EndpointSlice](w.slices)
	s.Secrets = stored[corev1.Secret](w.tls)
	return s
}

// stored copies the structs an informer holds (the maps and slices inside
// them stay shared with the cache).
func stored[T any](inf cache.SharedIndexInformer) []T {
	list := inf.GetStore().List()
	out := make([]T, 0, len(list))
	for _, o := range list {
		if p, ok := o.(*T); ok {
			out = append(out, *p)
		}
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
