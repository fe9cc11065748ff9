package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// BenchmarkIngressMemory measures what one replica of rampart kubernetes
// holds with 1,000 Ingresses, 1,000 Services (with an EndpointSlice each)
// and 1,000 TLS Secrets in the cluster, each Ingress served with its own
// Secret: resident memory once ready, and its peak. A measurement, not a
// test (the bound is 100 MiB): run it with
//
//	KUBEBUILDER_ASSETS="$(bash .ci/kube/build)" go test ./cmd/rampart -run '^$' -bench IngressMemory -benchtime 1x
//
// It reports rss_MiB and peak_rss_MiB; bench/results keeps the figures.
func BenchmarkIngressMemory(b *testing.B) {
	const n = 1000
	admin, env := startAPIServer(b)
	admin.QPS, admin.Burst = 2000, 4000
	k := kubernetes.NewForConfigOrDie(admin)
	ctx := context.Background()
	if _, err := k.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "many"}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := k.NetworkingV1().IngressClasses().Create(ctx, &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "rampart",
		Annotations: map[string]string{"ingressclass.kubernetes.io/is-default-class": "true"}},
		Spec: networkingv1.IngressClassSpec{Controller: "rampart-proxy.io/ingress-controller"}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	// One certificate per host, as cert-manager would write them.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				if err := manyObjects(ctx, b, k, i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	dir := b.TempDir()
	kcFile := kubeconfigFor(b, env, dir, envtest.User{Name: "bench", Groups: []string{"system:masters"}})
	b.ResetTimer()
	for range b.N {
		rp := start(b, "rampart kubernetes", nil, rampartBin, "kubernetes", "--kubeconfig", kcFile, "--tls", "internal",
			"--data-dir", filepath.Join(dir, "data"), "--https-addr", kubeHTTPS, "--http-addr", "", "--admin-addr", kubeAdmin)
		waitListening(b, kubeAdmin)
		waitFor(b, 2*time.Minute, "ready with the cluster's table", func() error { return statusOK(http.Get("http://" + kubeAdmin + "/readyz")) })
		if !strings.Contains(rp.out.String(), `"sites":1000`) {
			b.Fatalf("the first table does not hold the 1,000 sites:\n%s", lastLines(rp.out.String(), 5))
		}
		time.Sleep(3 * time.Second) // settled: the informers' initial lists let go
		rss, peak := residentMiB(b, rp.cmd.Process.Pid)
		b.ReportMetric(rss, "rss_MiB")
		b.ReportMetric(peak, "peak_rss_MiB")
		rp.stop(10 * time.Second)
	}
}

// manyObjects creates the i-th Service, EndpointSlice, TLS Secret and Ingress.
func manyObjects(ctx context.Context, b *testing.B, k kubernetes.Interface, i int) error {
	name := "app-" + strconv.Itoa(i)
	host := name + ".many.test"
	certPEM, keyPEM := selfSignedPEM(b, host)
	_, err := k.CoreV1().Services("many").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}, metav1.CreateOptions{})
	if err == nil {
		_, err = k.DiscoveryV1().EndpointSlices("many").Create(ctx, &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: name + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080))}},
			Endpoints: []discoveryv1.Endpoint{
				{Addresses: []string{fmt.Sprintf("10.%d.%d.1", 100+i/250, i%250)}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}},
				{Addresses: []string{fmt.Sprintf("10.%d.%d.2", 100+i/250, i%250)}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}},
			}}, metav1.CreateOptions{})
	}
	if err == nil {
		_, err = k.CoreV1().Secrets("many").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name + "-tls"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM}}, metav1.CreateOptions{})
	}
	if err == nil {
		r := rule(host, "/", name)
		_, err = k.NetworkingV1().Ingresses("many").Create(ctx, &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: networkingv1.IngressSpec{TLS: []networkingv1.IngressTLS{{Hosts: []string{host}, SecretName: name + "-tls"}}, Rules: []networkingv1.IngressRule{r}}},
			metav1.CreateOptions{})
	}
	return err
}

// residentMiB reads a process's resident set now and at its peak.
func residentMiB(t testing.TB, pid int) (rss, peak float64) {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			peak = kb / 1024
		}
	}
	return rss, peak
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
