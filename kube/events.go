package kube

import (
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// Events tells an Ingress's owner, through Events on the Ingress (what
// kubectl describe shows), why it or a part of it is not served. A problem
// is reported when it appears, not again at each rebuild while it stays;
// client-go's correlator folds repeats from several replicas. The zero
// value is not usable; use NewEvents.
type Events struct {
	broadcaster record.EventBroadcaster
	recorder    record.EventRecorder
	last        map[Problem]bool
}

// NewEvents records Events as component (the Event's source).
func NewEvents(c *Clients, component string) *Events {
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.Core.Events("")})
	return &Events{broadcaster: b, recorder: b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component}), last: map[Problem]bool{}}
}

// Report records a Warning for each problem that the previous Report did
// not hold, on its Ingress in ings.
func (e *Events) Report(ings []networkingv1.Ingress, problems []Problem) {
	now := make(map[Problem]bool, len(problems))
	for _, p := range problems {
		now[p] = true
		if e.last[p] {
			continue
		}
		for i := range ings {
			if ings[i].Namespace+"/"+ings[i].Name == p.Ingress {
				e.recorder.Event(&ings[i], corev1.EventTypeWarning, p.Reason, p.Message)
				break
			}
		}
	}
	e.last = now
}

// Stop flushes nothing more: Events still queued may be dropped.
func (e *Events) Stop() { e.broadcaster.Shutdown() }
