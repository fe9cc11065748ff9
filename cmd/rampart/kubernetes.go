package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/rampart-proxy/rampart/kube"
)

// kubeMode is what `rampart kubernetes` adds to a configuration: the
// cluster, watched, is where the sites come from.
type kubeMode struct {
	kubeconfig        string // "": in the cluster, as the Pod's ServiceAccount
	allowExternalName bool
	namespace         string        // rampart's own: its ACME Secrets and Lease
	leaseDuration     time.Duration // the ACME Lease's
	identity          string        // this replica's, in the Lease

	publish string // the Service whose address the Ingresses' status shows

	client  *kube.Clients
	leader  *kube.Leader       // its holder alone orders certificates (--tls acme) and writes status
	status  *kube.StatusWriter // made by start
	lost    func()             // called if this replica loses the Lease it held: rampart stops
	hasAuth atomic.Bool        // an Ingress served names an auth-secret: poke the watcher now and then
	pairs   kube.PairCache     // the spec.tls pairs checked, across rebuilds
	auth    authSecrets        // the Secrets auth-secret names, as last read

	watcher *kube.Watcher
	events  *kube.Events
	base    *config     // the flags' configuration, which each table starts from
	last    kube.Result // the table in service (its problems: the last built)
}

// runKubernetes is `rampart kubernetes`: the ingress controller. Every
// setting of the edge applies (listeners, TLS, limits, headers); the sites
// are the Ingresses of rampart's class, rebuilt whole at each change.
func runKubernetes(ctx context.Context, args []string, env environment, stdout, stderr io.Writer) error {
	raw := rawFlags{kube: true}
	fs := newFlagSet("rampart kubernetes", &raw)
	km := &kubeMode{}
	fs.StringVar(&km.kubeconfig, "kubeconfig", "", "kubeconfig file to reach the API server with; empty: the Pod's ServiceAccount (in the cluster)")
	fs.BoolVar(&km.allowExternalName, "allow-external-name", false, "let an Ingress's backend be a Service of type ExternalName (refused by default: it can point at any name, the cloud's metadata service included)")
	fs.StringVar(&km.namespace, "namespace", ownNamespace(), "rampart's own namespace, where the replicas share their ACME account and certificates (Secrets) and elect the one that orders (a Lease); default: the Pod's")
	fs.StringVar(&km.publish, "publish-service", ownNamespace()+"/rampart", "namespace/name of the Service in front of rampart (its LoadBalancer): its address is written into each served Ingress's status")
	lease := fs.String("lease-duration", "15s", "how long the replica that orders certificates keeps the Lease after it stops renewing it, before another takes over")
	cfg, err := load(fs, &raw, args, env, stdout, nil)
	if err != nil {
		return err
	}
	if km.leaseDuration, err = time.ParseDuration(*lease); err != nil || km.leaseDuration < time.Second || km.leaseDuration%time.Second != 0 {
		return &settingError{cfg.sources.of("lease-duration"), fmt.Sprintf("%q is not a whole number of seconds, one or more (a Lease counts in seconds)", *lease), "use a duration such as 15s"}
	}
	km.identity = os.Getenv("POD_NAME")
	if km.identity == "" {
		host, _ := os.Hostname()
		km.identity = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if cfg.tlsMode == "files" {
		return &settingError{cfg.sources.of("tls"), "files is not a mode of rampart kubernetes", "give each Ingress a spec.tls Secret (cert-manager's work), and leave --tls acme for the hosts without one"}
	}
	restCfg, err := restConfig(km.kubeconfig)
	if err != nil {
		return &settingError{cfg.sources.of("kubeconfig"), err.Error(), "run in a Pod with a ServiceAccount, or give --kubeconfig a readable file"}
	}
	restCfg.UserAgent = "rampart/" + buildVersion()
	restCfg.QPS, restCfg.Burst = 50, 100 // the status of many Ingresses, written at once
	client, err := kube.NewClients(restCfg)
	if err != nil {
		return err
	}
	km.client = client
	if km.watcher, err = kube.NewWatcher(kube.WatchConfig{Clients: client}); err != nil {
		return err
	}
	km.events = kube.NewEvents(client, "rampart")
	defer km.events.Stop()
	cfg.kube, km.base = km, cfg
	// One replica at a time holds the Lease: it alone orders certificates
	// (the others serve what the shared Secrets hold) and writes status. A
	// leader that loses the Lease while alive stops, and is restarted as a
	// follower: an order of its might still finish, and leader election
	// does not fence.
	var lost atomic.Bool
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	km.leader, km.lost = &kube.Leader{}, func() { lost.Store(true); stop() }
	err = serve(ctx, cfg, nil, stderr, nil)
	if err == nil && lost.Load() {
		err = errors.New("this replica lost the Lease while it held it; stopped, to rejoin as a follower")
	}
	return err
}

// start runs the cluster's watch, the election and the status writer
// until ctx ends; synced tells when the caches are full (or the stop
// began).
func (km *kubeMode) start(ctx context.Context, bg *sync.WaitGroup, log *zap.Logger) (synced <-chan error) {
	ch := make(chan error, 1)
	km.status = kube.NewStatusWriter(km.client, km.publish, km.leader, func(ingress string, err error) {
		log.Warn("an Ingress's status not written", zap.String("ingress", ingress), zap.Error(err))
	})
	bg.Add(4)
	go func() {
		defer bg.Done()
		log.Info("watching the cluster's Ingresses; /readyz fails until the caches are full and the first table is built")
		ch <- km.watcher.Run(ctx)
	}()
	go func() {
		defer bg.Done()
		kube.RunElection(ctx, kube.ElectionConfig{Clients: km.client, Namespace: km.namespace, Identity: km.identity, LeaseDuration: km.leaseDuration,
			OnLost: func() {
				log.Error("lost the Lease while holding it; stopping, to be restarted as a follower", zap.String("lease", km.namespace+"/"+kube.LeaseName))
				km.lost()
			},
			OnNewLeader: func(id string) {
				log.Info("the replica that orders certificates and writes status", zap.String("leader", id), zap.Bool("this", id == km.identity))
			}}, km.leader)
	}()
	go func() {
		defer bg.Done()
		km.status.Run(ctx)
	}()
	go func() { // the Secrets auth-secret names are read, not watched
		defer bg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(authSecretRefresh):
			}
			if km.hasAuth.Load() {
				km.watcher.Poke()
			}
		}
	}()
	return ch
}

// authSecretRefresh is how soon a change to a Secret that auth-secret
// names is served.
const authSecretRefresh = 30 * time.Second

// authSecrets reads the Secrets that the Ingresses' auth-secret
// annotations name (their own namespace only), one by one, from the API
// server: rampart watches no Secret but TLS ones. One the API server says
// is gone leaves its Ingress out; one it could not answer for keeps its
// last copy, so a slow API server opens or closes nothing. The zero value
// is ready.
type authSecrets struct {
	mu   sync.Mutex
	last map[string]corev1.Secret
}

func (a *authSecrets) fetch(client *kube.Clients, ings []networkingv1.Ingress, log *zap.Logger) []corev1.Secret {
	a.mu.Lock()
	defer a.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // all of them
	defer cancel()
	out, next := []corev1.Secret{}, map[string]corev1.Secret{}
	for _, ref := range kube.AuthSecretNames(ings) {
		ns, name, _ := strings.Cut(ref, "/")
		s, err := client.Core.Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		switch {
		case err == nil:
			next[ref] = *s
		case apierrors.IsNotFound(err) || apierrors.IsForbidden(err):
			continue
		default:
			if log != nil {
				log.Warn("a Secret that auth-secret names could not be read; its last copy stays", zap.String("secret", ref), zap.Error(err))
			}
			old, ok := a.last[ref]
			if !ok {
				continue
			}
			next[ref] = old
		}
		out = append(out, next[ref])
	}
	a.last = next
	return out
}

// ownNamespace is the Pod's namespace (POD_NAMESPACE, or the
// ServiceAccount's), else the manifests' rampart-ingress.
func ownNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil && len(b) > 0 {
		return strings.TrimSpace(string(b))
	}
	return "rampart-ingress"
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		if os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
			return nil, fmt.Errorf("not in a cluster (KUBERNETES_SERVICE_HOST is unset) and no kubeconfig given")
		}
		return rest.InClusterConfig()
	}
	return clientcmd.BuildConfigFromFlags("", kubeconfig)
}

// fromCluster serves the table the cluster asks for now, if it differs
// from the one in service, and marks rampart ready once one is. It returns
// the configuration in force.
func (s *servers) fromCluster(cur *config, ready *atomic.Bool, log *zap.Logger) *config {
	km := cur.kube
	next, res := km.tableFromCluster(km.base, log)
	if ready.Load() && reflect.DeepEqual(res.Sites, km.last.Sites) && reflect.DeepEqual(res.Certs, km.last.Certs) {
		return cur // a change that changes nothing served (a status, an unrelated Service)
	}
	applied := s.reload(cur, func() (*config, error) { return next, nil }, log)
	if applied == cur {
		return cur // refused, and logged: the table in service stays
	}
	km.last = res
	if !ready.Load() {
		ready.Store(true)
		log.Info("the cluster's Ingresses are served; ready", zap.Int("sites", len(res.Sites)), zap.Int("ingresses", len(res.Served)))
	}
	return applied
}

// tableFromCluster builds the configuration the cluster asks for now: base
// (the flags) with the sites of the Ingresses served. Problems become
// Events on their Ingresses, and a log line each.
func (km *kubeMode) tableFromCluster(base *config, log *zap.Logger) (*config, kube.Result) {
	snap := km.watcher.Snapshot()
	ours := snap.Ours()
	snap.AuthSecrets = km.auth.fetch(km.client, ours, log)
	km.hasAuth.Store(len(kube.AuthSecretNames(ours)) > 0) // one missing too: it may appear
	res := kube.Translate(snap, kube.Options{AllowExternalName: km.allowExternalName, WildcardNeedsSecret: base.tlsMode == "acme",
		MaxTimeout: base.upstreamTimeout, Pairs: &km.pairs})
	km.events.Report(snap.Ingresses, res.Problems)
	noAuth := snap
	noAuth.AuthSecrets = nil // the status writer keeps its snapshot: no password hash with it
	km.status.Offer(noAuth, res.Served)
	for _, p := range res.Problems {
		switch {
		case slices.Contains(km.last.Problems, p): // logged when it appeared
		case p.Served:
			log.Warn("an Ingress is served otherwise than it asks", zap.String("ingress", p.Ingress), zap.String("reason", p.Reason), zap.String("difference", p.Message))
		default:
			log.Warn("an Ingress is not served", zap.String("ingress", p.Ingress), zap.String("reason", p.Reason), zap.String("problem", p.Message))
		}
	}
	km.last.Problems = res.Problems
	next := *base
	next.sites, next.domains, next.flagDomains, next.mainDomains, next.siteCerts = res.Sites, nil, nil, nil, nil
	withPair := map[string]bool{}
	for _, c := range res.Certs {
		next.siteCerts = append(next.siteCerts, siteCert{names: c.Hosts, certPEM: c.CertPEM, keyPEM: c.KeyPEM, from: "Secret " + c.Secret})
		for _, h := range c.Hosts {
			withPair[h] = true
		}
	}
	for _, s := range res.Sites {
		next.domains = append(next.domains, s.Hosts...)
		for _, h := range s.Hosts {
			if !withPair[h] {
				next.mainDomains = append(next.mainDomains, h)
			}
		}
	}
	return &next, res
}
