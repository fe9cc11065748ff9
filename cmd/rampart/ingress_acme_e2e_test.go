package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Ports: Pebble 18910–18913, the load balancer in front of the replicas
// 18915 (HTTP) and 18916 (HTTPS), replica i 18920+i (HTTPS), 18923+i
// (HTTP) and 18926+i (admin).

// balancer is a TCP relay: the cloud's load balancer in front of the
// replicas (each connection goes to the next target that accepts it), or a
// gate in front of the API server. Paused, it holds new connections until
// resumed.
type balancer struct {
	mu      sync.Mutex
	next    int
	targets []string
	gate    chan struct{}
}

func newBalancer(t *testing.T, listen string, targets []string) *balancer {
	t.Helper()
	b := &balancer{targets: targets, gate: make(chan struct{})}
	close(b.gate)
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go b.relay(c)
		}
	}()
	return b
}

func (b *balancer) relay(c net.Conn) {
	defer c.Close()
	b.mu.Lock()
	gate := b.gate
	b.mu.Unlock()
	select {
	case <-gate:
	case <-time.After(time.Minute):
		return
	}
	for range len(b.targets) {
		b.mu.Lock()
		target := b.targets[b.next%len(b.targets)]
		b.next++
		b.mu.Unlock()
		u, err := net.DialTimeout("tcp", target, time.Second)
		if err != nil {
			continue // a replica that is gone: the next
		}
		defer u.Close()
		go func() { _, _ = io.Copy(u, c); u.Close() }()
		_, _ = io.Copy(c, u)
		return
	}
}

func (b *balancer) pause() {
	b.mu.Lock()
	b.gate = make(chan struct{})
	b.mu.Unlock()
}

func (b *balancer) resume() {
	b.mu.Lock()
	close(b.gate)
	b.mu.Unlock()
}

// TestIngressACMEReplicas: three replicas of rampart kubernetes, one API
// server and Pebble behind one load balancer. Exactly one order per name
// (Pebble's count), every replica serves the certificate; the leader killed
// in the middle of an order, and another replica finishes the work.
func TestIngressACMEReplicas(t *testing.T) {
	skipUnderRace(t)
	admin, env := startAPIServer(t)
	k := kubernetes.NewForConfigOrDie(admin)
	ctx := context.Background()
	applyManifests(t, admin, func(kind string) bool {
		switch kind {
		case "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "IngressClass":
			return true
		}
		return false
	})
	dir := t.TempDir()
	kcFile := kubeconfigFor(t, env, dir, shippedServiceAccount)
	ca := startPebble(t, 18910, 18915, 18916)
	var httpTargets, tlsTargets []string
	for i := range 3 {
		tlsTargets = append(tlsTargets, fmt.Sprintf("127.0.0.1:%d", 18920+i))
		httpTargets = append(httpTargets, fmt.Sprintf("127.0.0.1:%d", 18923+i))
	}
	lbHTTP := newBalancer(t, "127.0.0.1:18915", httpTargets)
	lbTLS := newBalancer(t, "127.0.0.1:18916", tlsTargets)

	if _, err := k.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "web"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	service(t, k, "web", "app")
	ingressObj(t, k, "web", "shared", "rampart", nil, rule("shared.test", "/", "app"))

	replicas := map[string]*proc{}
	for i := range 3 {
		name := fmt.Sprintf("rampart-%d", i)
		replicas[name] = start(t, name, []string{"POD_NAME=" + name, "POD_NAMESPACE=rampart-ingress"}, rampartBin, "kubernetes",
			"--kubeconfig", kcFile, "--tls", "acme", "--acme-directory", ca.dirURL, "--acme-ca-root", ca.apiRoot, "--lease-duration", "3s",
			"--data-dir", filepath.Join(dir, name), "--https-addr", tlsTargets[i], "--http-addr", httpTargets[i],
			"--admin-addr", fmt.Sprintf("127.0.0.1:%d", 18926+i), "--log-level", "debug")
	}
	roots := ca.issuingRoots(t)
	servedByAll := func(host string, among []string) {
		t.Helper()
		for _, addr := range among {
			waitFor(t, 90*time.Second, "a certificate for "+host+" at "+addr, func() error {
				_, err := handshake(addr, host, roots)
				return err
			})
		}
	}
	servedByAll("shared.test", tlsTargets)
	if n := ca.orders(); n != 1 {
		t.Errorf("Pebble took %d orders for shared.test from three replicas; want 1", n)
	}
	t.Logf("shared.test: %d order at Pebble; served by all three replicas", ca.orders())
	leader := leaseHolder(t, k)

	// The leader dies in the middle of its order for a new name: the
	// balancer holds the CA's validation until it is gone.
	lbHTTP.pause()
	lbTLS.pause()
	ingressObj(t, k, "web", "second", "rampart", nil, rule("second.test", "/", "app"))
	waitFor(t, 60*time.Second, "the leader's order for second.test", func() error {
		if ca.orders() < 2 {
			return fmt.Errorf("%d orders", ca.orders())
		}
		return nil
	})
	if err := replicas[leader].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-replicas[leader].done
	lbHTTP.resume()
	lbTLS.resume()
	var rest []string
	for i := range 3 {
		if name := fmt.Sprintf("rampart-%d", i); name != leader {
			rest = append(rest, tlsTargets[i])
		}
	}
	servedByAll("second.test", rest)
	next := leaseHolder(t, k)
	if next == leader {
		t.Errorf("the Lease is still %s's after it died", leader)
	}
	t.Logf("second.test: leader %s killed mid-order; %s took over; %d orders at Pebble in all (the dead leader's, abandoned, among them)", leader, next, ca.orders())
	if n := ca.orders(); n > 3 {
		t.Errorf("%d orders at Pebble; want at most 3 (one for shared.test, the abandoned one and the new leader's for second.test)", n)
	}
	// Every order came from the Lease's holder of its time: followers never order.
	for name, p := range replicas {
		if name != leader && name != next && strings.Contains(p.out.String(), "ordering a certificate") {
			t.Errorf("%s, never the leader, ordered", name)
		}
	}

	// A renewal goes through the shared Secrets too: asked of a follower,
	// refused; asked of the leader, done once, and the follower serves the
	// new certificate once it re-reads the cache (every minute).
	indexOf := func(name string) int {
		var i int
		fmt.Sscanf(name, "rampart-%d", &i)
		return i
	}
	adminOf := func(name string) string { return fmt.Sprintf("127.0.0.1:%d", 18926+indexOf(name)) }
	follower := ""
	for name := range replicas {
		if name != leader && name != next {
			follower = name
		}
	}
	followerTLS := tlsTargets[indexOf(follower)]
	before, err := handshake(followerTLS, "shared.test", roots)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := execOutput(rampartBin, "certs", "renew", "shared.test", "--admin-addr", adminOf(follower)); err == nil || !strings.Contains(out, "another holds the lease") {
		t.Errorf("rampart certs renew on follower %s: %v\n%s\nwant a refusal: another replica orders", follower, err, out)
	}
	if out, err := execOutput(rampartBin, "certs", "--admin-addr", adminOf(follower)); err != nil || !strings.Contains(out, "by the replica holding the Lease") {
		t.Errorf("rampart certs on follower %s: %v\n%s\nwant the renewal left to the Lease's holder", follower, err, out)
	}
	orders := ca.orders()
	if out, err := execOutput(rampartBin, "certs", "renew", "shared.test", "--admin-addr", adminOf(next)); err != nil || !strings.Contains(out, "renewed shared.test") {
		t.Fatalf("rampart certs renew on leader %s: %v\n%s", next, err, out)
	}
	waitFor(t, 90*time.Second, "the renewed shared.test at follower "+follower, func() error {
		c, err := handshake(followerTLS, "shared.test", roots)
		if err == nil && c.SerialNumber.Cmp(before.SerialNumber) == 0 {
			err = errors.New("still the old certificate")
		}
		return err
	})
	if n := ca.orders() - orders; n != 1 {
		t.Errorf("a renewal asked of the leader made %d orders; want 1", n)
	}
	t.Logf("shared.test renewed by leader %s (1 order, through the Secrets); follower %s serves the new certificate", next, follower)

	// No replica was refused anything as the shipped ServiceAccount.
	for name, p := range replicas {
		if strings.Contains(strings.ToLower(p.out.String()), "forbidden") {
			t.Errorf("%s was refused something:\n%s", name, p.out.String())
		}
	}
}

// leaseHolder waits for the ACME Lease to have a holder and returns it.
func leaseHolder(t *testing.T, k kubernetes.Interface) string {
	t.Helper()
	var holder string
	waitFor(t, 30*time.Second, "a holder of the ACME Lease", func() error {
		l, err := k.CoordinationV1().Leases("rampart-ingress").Get(context.Background(), "rampart-acme", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
			return fmt.Errorf("no holder")
		}
		holder = *l.Spec.HolderIdentity
		return nil
	})
	return holder
}
