package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// The Kubernetes tests run against a real kube-apiserver and etcd, built by
// .ci/kube/build and named by KUBEBUILDER_ASSETS, started through
// controller-runtime's envtest with RBAC on. The apps behind the Ingresses
// run in a network namespace the test makes: the API server refuses
// loopback addresses in an EndpointSlice.
//
// Ports: the API server 18900, etcd 18901 and 18902, rampart 18893 (HTTPS)
// and 18894 (admin), the gate in front of the API server 18895.

const (
	kubeNS        = "rampart-kube-e2e" // the network namespace
	kubeHostSide  = "rke2e-h"
	kubeNSSide    = "rke2e-n"
	kubeHostAddr  = "10.213.0.1"
	kubeAppA      = "10.213.0.2"
	kubeAppB      = "10.213.0.3"
	kubeAppPort   = 8080
	kubeSA        = "system:serviceaccount:rampart-ingress:rampart"
	kubeHTTPS     = "127.0.0.1:18893"
	kubeAdmin     = "127.0.0.1:18894"
	kubeGate      = "127.0.0.1:18895"
	kubeAPIServer = 18900
)

// startAPIServer starts kube-apiserver and etcd, and returns the
// administrator's client configuration and the environment (for users).
func startAPIServer(t testing.TB) (*rest.Config, *envtest.Environment) {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("KUBEBUILDER_ASSETS is unset; .ci/run must build the API server (.ci/kube/build)")
		}
		t.Skip("no API server: export KUBEBUILDER_ASSETS=\"$(bash .ci/kube/build)\" (about 10 minutes the first time)")
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets, ControlPlaneStartTimeout: 2 * time.Minute, ControlPlaneStopTimeout: 30 * time.Second}
	env.ControlPlane.Etcd = &envtest.Etcd{URL: &url.URL{Scheme: "http", Host: "127.0.0.1:18901"}}
	env.ControlPlane.Etcd.Configure().Set("listen-peer-urls", "http://127.0.0.1:18902")
	api := &envtest.APIServer{SecurePort: kubeAPIServer}
	api.SecureServing.Address = "127.0.0.1"
	api.Configure().Set("service-cluster-ip-range", "10.96.0.0/16") // room for the memory benchmark's 1,000 Services
	env.ControlPlane.APIServer = api
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd from %s: %v", assets, err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the API server: %v", err)
		}
	})
	return cfg, env
}

// appNetwork makes a network namespace with a veth pair: this side
// 10.213.0.1, the apps' side 10.213.0.2 and .3. It needs root.
func appNetwork(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the Kubernetes test needs root for a network namespace")
		}
		t.Skip("needs root for a network namespace")
	}
	ip := requireTool(t, "ip")
	_ = exec.Command(ip, "netns", "del", kubeNS).Run() // a previous run's, if it was killed
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", kubeNS)
	t.Cleanup(func() { _ = exec.Command(ip, "netns", "del", kubeNS).Run() })
	run("link", "add", kubeHostSide, "type", "veth", "peer", "name", kubeNSSide)
	run("link", "set", kubeNSSide, "netns", kubeNS)
	run("addr", "add", kubeHostAddr+"/24", "dev", kubeHostSide)
	run("link", "set", kubeHostSide, "up")
	run("-n", kubeNS, "addr", "add", kubeAppA+"/24", "dev", kubeNSSide)
	run("-n", kubeNS, "addr", "add", kubeAppB+"/24", "dev", kubeNSSide)
	run("-n", kubeNS, "link", "set", kubeNSSide, "up")
	run("-n", kubeNS, "link", "set", "lo", "up")
}

// startNSApp runs an app inside the namespace at addr: it answers every
// request 200 with its name and the path. It is this test binary, run again
// (TestMain sees RAMPART_TEST_APP).
func startNSApp(t *testing.T, name, addr string) *proc {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	listen := net.JoinHostPort(addr, strconv.Itoa(kubeAppPort))
	p := start(t, "app "+name, []string{"RAMPART_TEST_APP=" + name, "RAMPART_TEST_APP_ADDR=" + listen}, "ip", "netns", "exec", kubeNS, self)
	waitFor(t, 15*time.Second, "app "+name+" listening", func() error {
		c, err := net.DialTimeout("tcp", listen, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
	return p
}

// runTestApp is the app of startNSApp, when the test binary is run as one.
func runTestApp(name, addr string) {
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", name, r.URL.Path)
	})}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	go func() {
		<-stop
		_ = srv.Shutdown(context.Background())
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// shippedServiceAccount is rampart's ServiceAccount as the API server
// knows it, with its groups: RBAC judges it by the shipped bindings.
var shippedServiceAccount = envtest.User{Name: kubeSA, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:rampart-ingress", "system:authenticated"}}

// kubeconfigFor writes a kubeconfig for user into dir and returns its path.
func kubeconfigFor(t testing.TB, env *envtest.Environment, dir string, user envtest.User) string {
	t.Helper()
	u, err := env.AddUser(user, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := u.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(file, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// applyManifests decodes install.yaml; those objects that create picks are
// created with the administrator's rights, every one is also checked by a
// server-side dry run.
func applyManifests(t *testing.T, cfg *rest.Config, create func(kind string) bool) {
	t.Helper()
	data, err := os.ReadFile("../../deploy/kubernetes/ingress/install.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dc := discovery.NewDiscoveryClientForConfigOrDie(cfg)
	groups, err := restmapper.GetAPIGroupResources(dc)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDiscoveryRESTMapper(groups)
	dyn := dynamic.NewForConfigOrDie(cfg)
	ctx := context.Background()
	for _, doc := range strings.Split(string(data), "\n---\n") {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
			t.Fatal(err)
		}
		gvk := obj.GroupVersionKind()
		m, err := mapper.RESTMapping(schema.GroupKind{Group: gvk.Group, Kind: gvk.Kind}, gvk.Version)
		if err != nil {
			t.Fatalf("%s: %v", gvk, err)
		}
		var rc dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if obj.GetNamespace() != "" {
			rc = dyn.Resource(m.Resource).Namespace(obj.GetNamespace())
		}
		if !create(gvk.Kind) {
			// What the test does not need running: a server-side dry run
			// of the whole of it (the namespace it lives in is created).
			if _, err := rc.Create(ctx, obj, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"}); err != nil {
				t.Errorf("install.yaml's %s %s: server-side dry run: %v", gvk.Kind, obj.GetName(), err)
			}
			continue
		}
		if _, err := rc.Create(ctx, obj, metav1.CreateOptions{FieldValidation: "Strict"}); err != nil {
			t.Fatalf("install.yaml's %s %s: %v", gvk.Kind, obj.GetName(), err)
		}
	}
}

// TestIngressController runs rampart kubernetes as the shipped
// ServiceAccount against a real API server: readiness waits for the
// cluster; Ingresses are served, changed and deleted, and endpoints scaled
// and drained, under a constant-rate client that sees no failure; a
// cert-manager-style Secret is rotated and served without a restart; an
// Ingress of another class is ignored; a broken one gets an Event.
func TestIngressController(t *testing.T) {
	skipUnderRace(t)
	admin, env := startAPIServer(t)
	appNetwork(t)
	ctx := context.Background()
	k := kubernetes.NewForConfigOrDie(admin)

	// The manifests as shipped: the namespace, the ServiceAccount's RBAC
	// and the IngressClass are created; the Deployment, Service and PDB go
	// through a server-side dry run (nothing here runs Pods).
	applyManifests(t, admin, func(kind string) bool {
		switch kind {
		case "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "IngressClass", "Service":
			return true
		}
		return false
	})
	// The cloud gives rampart's LoadBalancer Service its address.
	lb, err := k.CoreV1().Services("rampart-ingress").Get(ctx, "rampart", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lb.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.10"}}
	if _, err := k.CoreV1().Services("rampart-ingress").UpdateStatus(ctx, lb, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// rampart authenticates as the ServiceAccount would, with its groups,
	// through a gate, shut: rampart starts without the cluster.
	dir := t.TempDir()
	kcFile := kubeconfigFor(t, env, dir, shippedServiceAccount)
	g := newBalancer(t, kubeGate, []string{fmt.Sprintf("127.0.0.1:%d", kubeAPIServer)})
	g.pause()
	kc, err := os.ReadFile(kcFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kcFile, []byte(strings.Replace(string(kc), fmt.Sprintf("127.0.0.1:%d", kubeAPIServer), kubeGate, 1)), 0o600); err != nil {
		t.Fatal(err)
	}

	web := "web"
	if _, err := k.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: web}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	startNSApp(t, "a", kubeAppA)
	startNSApp(t, "b", kubeAppB)
	service(t, k, web, "shop")
	slice(t, k, web, "shop", map[string]string{kubeAppA: "ready"})
	ingressObj(t, k, web, "shop", "rampart", nil, rule("shop.test", "/", "shop"))

	rp := start(t, "rampart kubernetes", nil, rampartBin, "kubernetes", "--kubeconfig", kcFile, "--tls", "internal",
		"--data-dir", filepath.Join(dir, "data"), "--https-addr", kubeHTTPS, "--http-addr", "", "--admin-addr", kubeAdmin, "--log-level", "debug")
	waitListening(t, kubeAdmin)
	// Shut out of the cluster, rampart is up but not ready.
	time.Sleep(time.Second)
	if code := getStatus(t, "http://"+kubeAdmin+"/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz answered %d before the caches filled; want 503", code)
	}
	g.resume()
	waitFor(t, 30*time.Second, "/readyz once the cluster is reached", func() error { return statusOK(http.Get("http://" + kubeAdmin + "/readyz")) })
	roots := poolFromFile(t, filepath.Join(dir, "data", "internal-ca", "root.pem"))
	client := clientTo(kubeHTTPS, roots)
	if body := mustGet(t, client, "https://shop.test/"); body != "a /" {
		t.Fatalf("shop.test/ answered %q; want app a", body)
	}

	// The leader (the only replica) writes the LoadBalancer's address into
	// the Ingress's status, as kubectl get ingress shows it.
	waitFor(t, 30*time.Second, "the Ingress's status.loadBalancer", func() error {
		ing, err := k.NetworkingV1().Ingresses(web).Get(ctx, "shop", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if lbs := ing.Status.LoadBalancer.Ingress; len(lbs) != 1 || lbs[0].IP != "203.0.113.10" {
			return fmt.Errorf("status %+v", ing.Status.LoadBalancer)
		}
		return nil
	})

	// Constant rate on shop.test while the cluster changes around it.
	load := startLoad(t, client, "https://shop.test/cart", 20*time.Millisecond, nil)

	// Another Ingress created, changed and deleted.
	ingressObj(t, k, web, "blog", "rampart", nil, rule("blog.test", "/", "shop"))
	waitBody(t, client, "https://blog.test/x", "a /x")
	updateIngress(t, k, web, "blog", func(blog *networkingv1.Ingress) { blog.Spec.Rules[0].HTTP.Paths[0].Path = "/posts" })
	waitStatus(t, client, "https://blog.test/x", http.StatusNotFound)
	waitBody(t, client, "https://blog.test/posts/1", "a /posts/1")
	if err := k.NetworkingV1().Ingresses(web).Delete(ctx, "blog", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "blog.test no longer served", func() error {
		res, err := client.Get("https://blog.test/posts/1")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return fmt.Errorf("still 200")
			}
		}
		return nil
	})

	// shop's endpoints: b added, then a drained (terminating, still
	// serving, as a Pod does in its grace period), then a removed.
	slice(t, k, web, "shop", map[string]string{kubeAppA: "ready", kubeAppB: "ready"})
	waitBody(t, client, "https://shop.test/", "b /")
	slice(t, k, web, "shop", map[string]string{kubeAppA: "terminating", kubeAppB: "ready"})
	time.Sleep(2 * time.Second) // the table follows within the debounce
	for range 20 {
		if body := mustGet(t, client, "https://shop.test/"); body != "b /" {
			t.Fatalf("a terminating endpoint was sent a request: %q", body)
		}
	}
	slice(t, k, web, "shop", map[string]string{kubeAppB: "ready"})
	// shop itself changed: a path added; the old one keeps working.
	updateIngress(t, k, web, "shop", func(shop *networkingv1.Ingress) {
		shop.Spec.Rules[0].HTTP.Paths = append(shop.Spec.Rules[0].HTTP.Paths, rule("shop.test", "/healthz", "shop").HTTP.Paths[0])
		shop.Spec.Rules[0].HTTP.Paths[1].PathType = ptr(networkingv1.PathTypeExact)
	})
	waitBody(t, client, "https://shop.test/healthz", "b /healthz")
	// Scaled back up to a.
	slice(t, k, web, "shop", map[string]string{kubeAppA: "ready", kubeAppB: "ready"})
	waitBody(t, client, "https://shop.test/", "a /")
	load.finish()
	t.Logf("constant rate on shop.test through the changes: %d ok, %d failed", load.ok.Load(), load.failed.Load())
	if load.failed.Load() != 0 || load.ok.Load() < 100 {
		t.Errorf("%d requests failed, %d succeeded; want 0 failed", load.failed.Load(), load.ok.Load())
	}

	// A cert-manager-style Secret, rotated: served without a restart.
	certA, keyA := selfSignedPEM(t, "secure.test")
	tlsSecretObj(t, k, web, "secure-tls", certA, keyA, false)
	ingressObj(t, k, web, "secure", "rampart", []networkingv1.IngressTLS{{Hosts: []string{"secure.test"}, SecretName: "secure-tls"}}, rule("secure.test", "/", "shop"))
	leafA := mustParse(t, certA)
	waitFor(t, 15*time.Second, "secure.test served with the Secret's certificate", func() error { return servedCert(kubeHTTPS, "secure.test", leafA) })
	certB, keyB := selfSignedPEM(t, "secure.test")
	tlsSecretObj(t, k, web, "secure-tls", certB, keyB, true)
	leafB := mustParse(t, certB)
	waitFor(t, 15*time.Second, "the rotated certificate served", func() error { return servedCert(kubeHTTPS, "secure.test", leafB) })

	// A migrated manifest: ingress-nginx's rewrite-target works as there; a
	// snippet leaves its Ingress out, with an Event.
	migrated := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "migrated", Namespace: web, Annotations: map[string]string{
		"nginx.ingress.kubernetes.io/rewrite-target": "/$2", "nginx.ingress.kubernetes.io/use-regex": "true"}},
		Spec: networkingv1.IngressSpec{IngressClassName: ptr("rampart"), Rules: []networkingv1.IngressRule{rule("old.test", "/shop(/|$)(.*)", "shop")}}}
	migrated.Spec.Rules[0].HTTP.Paths[0].PathType = ptr(networkingv1.PathTypeImplementationSpecific)
	if _, err := k.NetworkingV1().Ingresses(web).Create(ctx, migrated, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitBody(t, client, "https://old.test/shop/cart?x=1", "a /cart")
	snippet := migrated.DeepCopy()
	snippet.Name, snippet.Annotations = "snippet", map[string]string{"nginx.ingress.kubernetes.io/configuration-snippet": "more_set_headers 'X: y';"}
	snippet.Spec.Rules[0].Host = "snippet.test"
	if _, err := k.NetworkingV1().Ingresses(web).Create(ctx, snippet, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, k, web, "snippet", "AnnotationRefused", "configuration-snippet")

	// Basic authentication from an htpasswd Secret: 401 without, 200 with.
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.CoreV1().Secrets(web).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "staff-users", Namespace: web},
		Data: map[string][]byte{"auth": []byte("alice:" + string(hash) + "\n")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	staff := migrated.DeepCopy()
	staff.Name, staff.Annotations = "staff", map[string]string{"nginx.ingress.kubernetes.io/auth-type": "basic",
		"nginx.ingress.kubernetes.io/auth-secret": "staff-users", "nginx.ingress.kubernetes.io/auth-realm": "Staff only"}
	staff.Spec.Rules = []networkingv1.IngressRule{rule("staff.test", "/", "shop")}
	if _, err := k.NetworkingV1().Ingresses(web).Create(ctx, staff, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, client, "https://staff.test/", http.StatusUnauthorized)
	req, _ := http.NewRequest("GET", "https://staff.test/x", nil)
	req.SetBasicAuth("alice", "s3cret")
	if res, err := client.Do(req); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("with the password: %v %v; want 200", res, err)
	} else {
		res.Body.Close()
	}

	// Another class is ignored; a broken Ingress gets an Event.
	if _, err := k.NetworkingV1().IngressClasses().Create(ctx, &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "nginx"},
		Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ingressObj(t, k, web, "other", "nginx", nil, rule("other.test", "/", "shop"))
	ingressObj(t, k, web, "broken", "rampart", nil, rule("broken.test", "/", "missing"))
	waitEvent(t, k, web, "broken", "InvalidBackend", "missing")
	for _, host := range []string{"other.test", "broken.test", "snippet.test"} {
		res, err := client.Get("https://" + host + "/")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				t.Errorf("%s was served (200); want it ignored", host)
			}
		}
	}
	if body := mustGet(t, client, "https://shop.test/"); !strings.HasSuffix(body, " /") {
		t.Errorf("shop.test broke beside the broken Ingress: %q", body)
	}
	// rampart migrate reads the same cluster, as the same ServiceAccount.
	out, err := exec.Command(rampartBin, "migrate", "--kubeconfig", kcFile).CombinedOutput()
	if code := exitCode(t, err); code != 1 || !strings.Contains(string(out), "web/snippet: NOT SERVED") ||
		!strings.Contains(string(out), "web/migrated: served, with 1 difference(s)") || !strings.Contains(string(out), "web/shop: works as is") ||
		!strings.Contains(string(out), "web/broken: NOT SERVED until the unsupported parts are changed\n  unsupported: InvalidBackend: ") {
		t.Errorf("rampart migrate on the cluster: exit %d\n%s", code, out)
	}
	if out := rp.out.String(); strings.Contains(out, "forbidden") || strings.Contains(out, "Forbidden") {
		t.Errorf("rampart was refused something as the shipped ServiceAccount:\n%s", out)
	}
}

func ptr[T any](v T) *T { return &v }

// updateIngress changes an Ingress as a user's kubectl edit would: read,
// change, write, again if rampart wrote its status in between.
func updateIngress(t *testing.T, k kubernetes.Interface, ns, name string, change func(*networkingv1.Ingress)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ing, err := k.NetworkingV1().Ingresses(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(ing)
		_, err = k.NetworkingV1().Ingresses(ns).Update(context.Background(), ing, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitEvent waits for a Warning Event with reason on the Ingress, its
// message holding what.
func waitEvent(t *testing.T, k kubernetes.Interface, ns, ingress, reason, what string) {
	t.Helper()
	waitFor(t, 15*time.Second, "a "+reason+" Event on Ingress "+ingress, func() error {
		evs, err := k.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + ingress})
		if err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Reason == reason && e.Type == corev1.EventTypeWarning && strings.Contains(e.Message, what) {
				return nil
			}
		}
		return fmt.Errorf("events: %v", evs.Items)
	})
}

func rule(host, path, svc string) networkingv1.IngressRule {
	return networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
		Paths: []networkingv1.HTTPIngressPath{{Path: path, PathType: ptr(networkingv1.PathTypePrefix), Backend: networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Name: "http"}}}}},
	}}}
}

func ingressObj(t *testing.T, k kubernetes.Interface, ns, name, class string, tlsEntries []networkingv1.IngressTLS, rules ...networkingv1.IngressRule) {
	t.Helper()
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: networkingv1.IngressSpec{IngressClassName: &class, TLS: tlsEntries, Rules: rules}}
	if _, err := k.NetworkingV1().Ingresses(ns).Create(context.Background(), ing, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// service is a Service without a selector: its EndpointSlices are the test's.
func service(t *testing.T, k kubernetes.Interface, ns, name string) {
	t.Helper()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	if _, err := k.CoreV1().Services(ns).Create(context.Background(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// slice sets the Service's one EndpointSlice to the addresses given, each
// "ready" or "terminating" (still serving, as in a Pod's grace period).
func slice(t *testing.T, k kubernetes.Interface, ns, svc string, endpoints map[string]string) {
	t.Helper()
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: svc + "-1", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: svc, discoveryv1.LabelManagedBy: "rampart-test"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(kubeAppPort))}},
	}
	for addr, state := range endpoints {
		terminating := state == "terminating"
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{addr},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(!terminating), Serving: ptr(true), Terminating: ptr(terminating)}})
	}
	ctx := context.Background()
	cur, err := k.DiscoveryV1().EndpointSlices(ns).Get(ctx, es.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = k.DiscoveryV1().EndpointSlices(ns).Create(ctx, es, metav1.CreateOptions{})
	case err == nil:
		es.ResourceVersion = cur.ResourceVersion
		_, err = k.DiscoveryV1().EndpointSlices(ns).Update(ctx, es, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

func tlsSecretObj(t *testing.T, k kubernetes.Interface, ns, name string, certPEM, keyPEM []byte, update bool) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: map[string]string{"cert-manager.io/certificate-name": name}},
		Type: corev1.SecretTypeTLS, Data: map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM}}
	var err error
	if update {
		_, err = k.CoreV1().Secrets(ns).Update(context.Background(), s, metav1.UpdateOptions{})
	} else {
		_, err = k.CoreV1().Secrets(ns).Create(context.Background(), s, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}

func selfSignedPEM(t testing.TB, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	dir := t.TempDir()
	c, k := selfSignedFiles(t, dir, names...)
	certPEM, err := os.ReadFile(c)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err = os.ReadFile(k)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM
}

func mustParse(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(certPEM)
	if b == nil {
		t.Fatal("no PEM block")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// servedCert tells whether the certificate rampart serves for name is want.
func servedCert(addr, name string, want *x509.Certificate) error {
	roots := x509.NewCertPool()
	roots.AddCert(want)
	got, err := handshake(addr, name, roots)
	if err != nil {
		return err
	}
	if !got.Equal(want) {
		return fmt.Errorf("serial %s served; want %s", got.SerialNumber, want.SerialNumber)
	}
	return nil
}

// clientTo sends every request to addr, whatever its host, trusting roots.
func clientTo(addr string, roots *x509.CertPool) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}}
}

func getStatus(t *testing.T, u string) int {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	res.Body.Close()
	return res.StatusCode
}

func mustGet(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, res.StatusCode, b)
	}
	return string(b)
}

// waitBody waits until u answers 200 with body.
func waitBody(t *testing.T, c *http.Client, u, body string) {
	t.Helper()
	waitFor(t, 15*time.Second, u+" answering "+body, func() error {
		res, err := c.Get(u)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK || string(b) != body {
			return fmt.Errorf("%d %q", res.StatusCode, b)
		}
		return nil
	})
}

func waitStatus(t *testing.T, c *http.Client, u string, code int) {
	t.Helper()
	waitFor(t, 15*time.Second, fmt.Sprintf("%s answering %d", u, code), func() error {
		res, err := c.Get(u)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != code {
			return fmt.Errorf("status %d", res.StatusCode)
		}
		return nil
	})
}
