package kube

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Ports of this package's API server: 19460 (kube-apiserver), 19461 and
// 19462 (etcd).

// TestWatcherAgainstAPIServer: against a real kube-apiserver, the watcher's
// cache holds the TLS Secrets and no other (the API server filters them),
// has no managed fields or kubectl last-applied copies, and a change is
// told through Changed, once for a burst.
func TestWatcherAgainstAPIServer(t *testing.T) {
	cfg := startTestAPIServer(t)
	k := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	if _, err := k.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "web"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	watcherChecks(t, cfg, k)
}

// startTestAPIServer starts kube-apiserver and etcd (envtest) on this
// package's ports and returns the administrator's configuration.
func startTestAPIServer(t *testing.T) *rest.Config {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("KUBEBUILDER_ASSETS is unset; .ci/run must build the API server (.ci/kube/build)")
		}
		t.Skip("no API server: export KUBEBUILDER_ASSETS=\"$(bash .ci/kube/build)\"")
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets, ControlPlaneStartTimeout: 2 * time.Minute}
	env.ControlPlane.Etcd = &envtest.Etcd{URL: &url.URL{Scheme: "http", Host: "127.0.0.1:19461"}}
	env.ControlPlane.Etcd.Configure().Set("listen-peer-urls", "http://127.0.0.1:19462")
	api := &envtest.APIServer{SecurePort: 19460}
	api.SecureServing.Address = "127.0.0.1"
	env.ControlPlane.APIServer = api
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	return cfg
}

func watcherChecks(t *testing.T, cfg *rest.Config, k kubernetes.Interface) {
	ctx := context.Background()
	certPEM, keyPEM := selfSigned(t, "a.example.com")
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "a-tls", Namespace: "web"}, Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM}},
		{ObjectMeta: metav1.ObjectMeta{Name: "db-password", Namespace: "web"}, Type: corev1.SecretTypeOpaque, StringData: map[string]string{"password": "hunter2"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "helm-release", Namespace: "web"}, Type: "helm.sh/release.v1", StringData: map[string]string{"release": "big"}},
	} {
		if _, err := k.CoreV1().Secrets("web").Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "web",
		Annotations: map[string]string{corev1.LastAppliedConfigAnnotation: `{"a":"whole copy"}`, "keep": "me"}},
		Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "shop", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}
	if _, err := k.NetworkingV1().Ingresses("web").Create(ctx, ing, metav1.CreateOptions{FieldManager: "kubectl"}); err != nil {
		t.Fatal(err)
	}

	clients, err := NewClients(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWatcher(WatchConfig{Clients: clients})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	syncCtx, cancel := context.WithTimeout(runCtx, 30*time.Second)
	defer cancel()
	if err := w.Run(syncCtx); err != nil {
		t.Fatal(err)
	}
	s := w.Snapshot()
	if len(s.Secrets) != 1 || s.Secrets[0].Name != "a-tls" {
		var names []string
		for _, sec := range s.Secrets {
			names = append(names, sec.Name)
		}
		t.Errorf("the cache holds Secrets %v; want a-tls alone", names)
	}
	if len(s.Ingresses) != 1 {
		t.Fatalf("%d Ingresses cached", len(s.Ingresses))
	}
	got := s.Ingresses[0]
	if len(got.ManagedFields) != 0 || got.Annotations[corev1.LastAppliedConfigAnnotation] != "" || got.Annotations["keep"] != "me" {
		t.Errorf("cached Ingress: managed fields %d, annotations %v; want none, and only keep", len(got.ManagedFields), got.Annotations)
	}
	// A burst of changes: Changed tells it, once.
	drain := func() int {
		n := 0
		for {
			select {
			case <-w.Changed():
				n++
			case <-time.After(time.Second):
				return n
			}
		}
	}
	drain() // the initial list's adds
	for i := range 5 {
		cur, err := k.NetworkingV1().Ingresses("web").Get(ctx, "shop", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cur.Annotations["n"] = string(rune('0' + i))
		if _, err := k.NetworkingV1().Ingresses("web").Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := drain(); n < 1 || n > 2 {
		t.Errorf("a burst of 5 updates was told %d times; want once (twice at most, if the debounce fell inside it)", n)
	}
	if v := w.Snapshot().Ingresses[0].Annotations["n"]; v != "4" {
		t.Errorf("after the burst the cache holds n=%q; want the last, 4", v)
	}
}

// TestElectionAgainstAPIServer: two replicas compete for the Lease on a
// real API server: exactly one leads at every sample; when the leader
// stops (and cannot renew), the other takes over once the Lease has gone
// unrenewed for its duration, never before.
func TestElectionAgainstAPIServer(t *testing.T) {
	cfg := startTestAPIServer(t)
	k := kubernetes.NewForConfigOrDie(cfg)
	if _, err := k.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "rampart-ingress"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	clients, err := NewClients(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const d = 2 * time.Second
	var leaders [2]Leader
	var cancels [2]context.CancelFunc
	done := make(chan struct{}, 2)
	for i := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		go func() {
			RunElection(ctx, ElectionConfig{Clients: clients, Namespace: "rampart-ingress", Identity: fmt.Sprintf("replica-%d", i), LeaseDuration: d}, &leaders[i])
			done <- struct{}{}
		}()
	}
	defer func() { cancels[0](); cancels[1](); <-done; <-done }()
	which := func() int {
		n, who := 0, -1
		for i := range leaders {
			if leaders[i].Held() {
				n, who = n+1, i
			}
		}
		if n > 1 {
			t.Fatal("both replicas lead at once")
		}
		return who
	}
	leader := -1
	for deadline := time.Now().Add(10 * time.Second); leader < 0 && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		leader = which()
	}
	if leader < 0 {
		t.Fatal("no leader after 10 s")
	}
	for range 40 { // two Lease durations: the leadership stays put
		if w := which(); w != leader {
			t.Fatalf("the leader moved from %d to %d while it renewed", leader, w)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancels[leader]()
	stopped := time.Now()
	other := 1 - leader
	for which() != other {
		if time.Since(stopped) > 5*d {
			t.Fatal("the other replica did not take over")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if took := time.Since(stopped); took < d-d/4 {
		t.Errorf("taken over %v after the leader stopped; a live Lease is %v", took, d)
	} else {
		t.Logf("taken over %v after the leader stopped (Lease %v)", took.Round(10*time.Millisecond), d)
	}
}
