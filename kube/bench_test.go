package kube

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkTranslate1000: one rebuild of the table for 1,000 Ingresses,
// each with its Service, EndpointSlice and TLS Secret: what every change in
// such a cluster costs (go test ./kube -run '^$' -bench Translate).
func BenchmarkTranslate1000(b *testing.B) {
	t := &testing.T{}
	var s Snapshot
	s.IngressClasses = []networkingv1.IngressClass{{ObjectMeta: metav1.ObjectMeta{Name: "rampart", Annotations: map[string]string{defaultClassAnnotation: "true"}},
		Spec: networkingv1.IngressClassSpec{Controller: ControllerName}}}
	prefix := networkingv1.PathTypePrefix
	for i := range 1000 {
		name, host := fmt.Sprintf("app-%d", i), fmt.Sprintf("app-%d.example.com", i)
		certPEM, keyPEM := selfSigned(t, host)
		s.Secrets = append(s.Secrets, corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "many"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM}})
		s.Services = append(s.Services, corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "many"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}})
		s.EndpointSlices = append(s.EndpointSlices, discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "many",
			Labels: map[string]string{serviceNameLabel: name}}, Ports: []discoveryv1.EndpointPort{{Name: ptrTo("http"), Port: ptrTo(int32(8080))}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{fmt.Sprintf("10.1.%d.%d", i/250, i%250)}}}})
		s.Ingresses = append(s.Ingresses, networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "many"},
			Spec: networkingv1.IngressSpec{TLS: []networkingv1.IngressTLS{{Hosts: []string{host}, SecretName: name}},
				Rules: []networkingv1.IngressRule{{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{
						Service: &networkingv1.IngressServiceBackend{Name: name, Port: networkingv1.ServiceBackendPort{Name: "http"}}}}}}}}}}})
	}
	for _, bb := range []struct {
		name  string
		pairs *PairCache
	}{{"each pair parsed", nil}, {"pairs remembered", &PairCache{}}} {
		b.Run(bb.name, func(b *testing.B) {
			Translate(s, Options{Pairs: bb.pairs}) // the first rebuild parses every pair
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				res := Translate(s, Options{Pairs: bb.pairs})
				if len(res.Sites) != 1000 || len(res.Certs) != 1000 {
					b.Fatalf("%d sites, %d certs, problems %v", len(res.Sites), len(res.Certs), res.Problems[:min(3, len(res.Problems))])
				}
			}
		})
	}
}
