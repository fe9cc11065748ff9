package kube

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Review is what rampart would make of one Ingress written for another
// controller (rampart migrate): each annotation's verdict, and the
// problems of the Ingress itself.
type Review struct {
	// Ingress is "namespace/name".
	Ingress string
	// Notes judge its annotations, rampart's and ingress-nginx's, in name order.
	Notes []Note
	// Problems are the rest: paths, backends, TLS (annotations' are in Notes).
	Problems []Problem
}

// Served tells whether rampart would serve the Ingress.
func (r Review) Served() bool {
	return !slices.ContainsFunc(r.Notes, func(n Note) bool { return n.Verdict == Refused }) &&
		!slices.ContainsFunc(r.Problems, func(p Problem) bool { return !p.Served })
}

// ReviewIngresses judges each Ingress of s as if it were of rampart's
// class, alone, against the rest of s. With cluster false (Ingresses from
// a file), the Services and Secrets they name are taken to exist and be
// ready, so only what the Ingress itself says is judged.
func ReviewIngresses(s Snapshot, o Options, cluster bool) []Review {
	const class = "rampart-migrate"
	o.FromFiles = !cluster
	var out []Review
	for _, ing := range s.Ingresses {
		ing := *ing.DeepCopy()
		id := ing.Namespace + "/" + ing.Name
		ing.Spec.IngressClassName = ptrTo(class)
		delete(ing.Annotations, legacyClassAnnotation)
		one := Snapshot{Ingresses: []networkingv1.Ingress{ing}, Services: s.Services, EndpointSlices: s.EndpointSlices, Secrets: s.Secrets, AuthSecrets: s.AuthSecrets,
			IngressClasses: []networkingv1.IngressClass{{ObjectMeta: metav1.ObjectMeta{Name: class}, Spec: networkingv1.IngressClassSpec{Controller: ControllerName}}}}
		if !cluster {
			one.Services, one.EndpointSlices = assumedBackends(&ing)
		}
		_, notes := readAnnotations(&ing, o, authSecrets(one, o))
		r := Review{Ingress: id, Notes: notes}
		for _, p := range Translate(one, o).Problems {
			if strings.HasPrefix(p.Reason, "Annotation") || (!cluster && (p.Reason == "SecretMissing" || p.Reason == "WildcardWithoutTLS")) {
				continue
			}
			r.Problems = append(r.Problems, p)
		}
		out = append(out, r)
	}
	return out
}

// assumedBackends makes a Service with one ready endpoint for each backend
// an Ingress names, with the port it names.
func assumedBackends(ing *networkingv1.Ingress) ([]corev1.Service, []discoveryv1.EndpointSlice) {
	var svcs []corev1.Service
	var slicesOut []discoveryv1.EndpointSlice
	add := func(b *networkingv1.IngressBackend) {
		if b == nil || b.Service == nil {
			return
		}
		sp := corev1.ServicePort{Name: b.Service.Port.Name, Port: b.Service.Port.Number, TargetPort: intstr.FromInt32(80)}
		if sp.Port == 0 {
			sp.Port = 80
		}
		svc := corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: b.Service.Name, Namespace: ing.Namespace}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{sp}}}
		i := slices.IndexFunc(svcs, func(s corev1.Service) bool { return s.Name == svc.Name })
		if i < 0 {
			svcs = append(svcs, svc)
			slicesOut = append(slicesOut, discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: ing.Namespace,
				Labels: map[string]string{serviceNameLabel: svc.Name}}, Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"192.0.2.1"}}}})
			i = len(svcs) - 1
		} else if !slices.ContainsFunc(svcs[i].Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == sp.Name && p.Port == sp.Port }) {
			svcs[i].Spec.Ports = append(svcs[i].Spec.Ports, sp)
		}
		es := &slicesOut[i]
		if !slices.ContainsFunc(es.Ports, func(p discoveryv1.EndpointPort) bool { return *p.Name == sp.Name }) {
			es.Ports = append(es.Ports, discoveryv1.EndpointPort{Name: ptrTo(sp.Name), Port: ptrTo(int32(8080))})
		}
	}
	add(ing.Spec.DefaultBackend)
	for _, r := range ing.Spec.Rules {
		if r.HTTP != nil {
			for i := range r.HTTP.Paths {
				add(&r.HTTP.Paths[i].Backend)
			}
		}
	}
	return svcs, slicesOut
}

func ptrTo[T any](v T) *T { return &v }
