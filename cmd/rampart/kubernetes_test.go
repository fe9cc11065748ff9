package main

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// renderOverlay runs the kustomize pinned in go.mod and decodes every object
// strictly into its k8s.io/api type: an unknown (misspelt) field fails.
func renderOverlay(t *testing.T, overlay string) (deployments []appsv1.Deployment, services []corev1.Service, pdbs []policyv1.PodDisruptionBudget, pvcs []corev1.PersistentVolumeClaim) {
	t.Helper()
	deployments, services, pdbs, pvcs, _ = renderKustomization(t, "overlays/"+overlay)
	return deployments, services, pdbs, pvcs
}

// renderKustomization is renderOverlay for any folder under
// deploy/kubernetes; it also returns the rendered YAML.
func renderKustomization(t *testing.T, dir string) (deployments []appsv1.Deployment, services []corev1.Service, pdbs []policyv1.PodDisruptionBudget, pvcs []corev1.PersistentVolumeClaim, rendered []byte) {
	t.Helper()
	overlay := dir
	out, err := exec.Command(goTool(t, "kustomize"), "build", "../../deploy/kubernetes/"+dir).Output()
	if err != nil {
		var ee *exec.ExitError
		errors.As(err, &ee)
		t.Fatalf("kustomize build %s: %v\n%s", overlay, err, ee.Stderr)
	}
	for _, doc := range strings.Split(string(out), "\n---\n") {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		var obj any
		switch meta.Kind {
		case "Deployment":
			deployments = append(deployments, appsv1.Deployment{})
			obj = &deployments[len(deployments)-1]
		case "Service":
			services = append(services, corev1.Service{})
			obj = &services[len(services)-1]
		case "PersistentVolumeClaim":
			pvcs = append(pvcs, corev1.PersistentVolumeClaim{})
			obj = &pvcs[len(pvcs)-1]
		case "PodDisruptionBudget":
			pdbs = append(pdbs, policyv1.PodDisruptionBudget{})
			obj = &pdbs[len(pdbs)-1]
		case "ServiceAccount":
			obj = &corev1.ServiceAccount{}
		case "Namespace":
			obj = &corev1.Namespace{}
		case "ClusterRole":
			obj = &rbacv1.ClusterRole{}
		case "ClusterRoleBinding":
			obj = &rbacv1.ClusterRoleBinding{}
		case "Role":
			obj = &rbacv1.Role{}
		case "RoleBinding":
			obj = &rbacv1.RoleBinding{}
		case "IngressClass":
			obj = &networkingv1.IngressClass{}
		default:
			t.Fatalf("%s: unexpected kind %q", overlay, meta.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Errorf("%s: %s does not decode strictly: %v", overlay, meta.Kind, err)
		}
	}
	return deployments, services, pdbs, pvcs, out
}

func TestStrictDecodingCatchesMisspelling(t *testing.T) {
	doc := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replicaz: 1\n"
	if err := yaml.UnmarshalStrict([]byte(doc), &appsv1.Deployment{}); err == nil {
		t.Error("a misspelt field decoded without error; the manifest test would prove nothing")
	}
}

func TestKubernetesManifests(t *testing.T) {
	for _, overlay := range []string{"edge", "sidecar"} {
		t.Run(overlay, func(t *testing.T) {
			deployments, services, pdbs, pvcs := renderOverlay(t, overlay)
			if len(deployments) != 1 || len(services) != 1 {
				t.Fatalf("%d deployments, %d services; want one of each", len(deployments), len(services))
			}
			checkDisruptionBudgets(t, deployments, pdbs)
			pod := deployments[0].Spec.Template.Spec
			checkRestricted(t, pod)
			if g := pod.TerminationGracePeriodSeconds; g == nil || *g <= 35 {
				t.Errorf("terminationGracePeriodSeconds %v; want more than shutdown delay + timeout (35s)", g)
			}
			var rampart *corev1.Container
			for i, c := range pod.InitContainers {
				if c.Name == "rampart" {
					rampart = &pod.InitContainers[i]
					if overlay == "sidecar" && (c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways) {
						t.Error("rampart is an init container without restartPolicy: Always (not a native sidecar)")
					}
				}
			}
			for i, c := range pod.Containers {
				if c.Name == "rampart" {
					rampart = &pod.Containers[i]
				}
			}
			if rampart == nil {
				t.Fatal("no rampart container")
			}
			if overlay == "sidecar" && len(pod.InitContainers) == 0 {
				t.Error("sidecar overlay: rampart is not a native sidecar")
			}
			checkRampartContainer(t, *rampart)

			svc := services[0]
			ports := map[int32]string{}
			for _, p := range svc.Spec.Ports {
				ports[p.Port] = p.TargetPort.String()
			}
			if ports[443] != "https" || ports[80] != "http" || svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
				t.Errorf("service %s: ports %v; want a LoadBalancer mapping 443→https (8443) and 80→http (8080)", svc.Name, ports)
			}
			if overlay == "edge" && (len(pvcs) != 1 || *deployments[0].Spec.Replicas != 1) {
				t.Errorf("edge: %d PVCs, %d replicas; want one and one", len(pvcs), *deployments[0].Spec.Replicas)
			}
		})
	}
}

// checkDisruptionBudgets: a Deployment of more than one replica has a
// PodDisruptionBudget that keeps at least one up and lets at least one be
// evicted; one of a single replica has none, since a budget could only
// allow its outage or block every node drain.
func checkDisruptionBudgets(t *testing.T, deployments []appsv1.Deployment, pdbs []policyv1.PodDisruptionBudget) {
	t.Helper()
	guarded := map[string]bool{}
	for _, pdb := range pdbs {
		var d *appsv1.Deployment
		for i := range deployments {
			if pdb.Spec.Selector != nil && selects(pdb.Spec.Selector.MatchLabels, deployments[i].Spec.Template.Labels) {
				d = &deployments[i]
			}
		}
		if d == nil {
			t.Errorf("PDB %s selects no Deployment of the overlay", pdb.Name)
			continue
		}
		guarded[d.Name] = true
		replicas := int32(1)
		if d.Spec.Replicas != nil {
			replicas = *d.Spec.Replicas
		}
		var healthy int32 // the pods the budget keeps up, as the disruption controller counts them
		switch s := pdb.Spec; {
		case s.MinAvailable != nil:
			healthy = scaled(t, s.MinAvailable.String(), replicas)
		case s.MaxUnavailable != nil:
			healthy = replicas - scaled(t, s.MaxUnavailable.String(), replicas)
		}
		switch {
		case replicas < 2:
			t.Errorf("PDB %s guards deployment %s of %d replica; want no PDB: it can only allow the outage or block every node drain",
				pdb.Name, d.Name, replicas)
		case healthy < 1 || healthy >= replicas:
			t.Errorf("PDB %s keeps %d of deployment %s's %d replicas up; want 1 to %d "+
				"(one that allows disrupting every replica protects nothing; one that allows none blocks node drains)",
				pdb.Name, healthy, d.Name, replicas, replicas-1)
		}
	}
	for _, d := range deployments {
		if d.Spec.Replicas != nil && *d.Spec.Replicas > 1 && !guarded[d.Name] {
			t.Errorf("deployment %s has %d replicas and no PodDisruptionBudget", d.Name, *d.Spec.Replicas)
		}
	}
}

// selects reports whether every label of selector is among labels.
func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

// scaled is a PDB count: a number, or a percentage of replicas rounded up.
func scaled(t *testing.T, v string, replicas int32) int32 {
	t.Helper()
	pct, isPct := strings.CutSuffix(v, "%")
	n, err := strconv.Atoi(pct)
	if err != nil {
		t.Fatalf("PDB count %q: %v", v, err)
	}
	if isPct {
		return int32((n*int(replicas) + 99) / 100)
	}
	return int32(n)
}

// checkRestricted checks the "restricted" Pod Security Standard.
func checkRestricted(t *testing.T, pod corev1.PodSpec) {
	t.Helper()
	sc := pod.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65532 ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v; want runAsNonRoot, runAsUser 65532, seccomp RuntimeDefault", sc)
	}
	for _, c := range append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...) {
		csc := c.SecurityContext
		if csc == nil || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
			csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem ||
			csc.Capabilities == nil || len(csc.Capabilities.Drop) != 1 || csc.Capabilities.Drop[0] != "ALL" {
			t.Errorf("container %s: securityContext %+v; want no privilege escalation, a read-only root, capabilities ALL dropped", c.Name, csc)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("container %s: no resource requests or limits", c.Name)
		}
	}
}

func checkRampartContainer(t *testing.T, c corev1.Container) {
	t.Helper()
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["https"] != 8443 || ports["http"] != 8080 || ports["admin"] != 9090 {
		t.Errorf("ports %v; want https 8443, http 8080, admin 9090", ports)
	}
	if !strings.Contains(strings.Join(c.Args, " "), "--admin-addr=:9090") {
		t.Error("the admin listener stays on loopback: probes cannot reach it")
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.String() != "admin" {
		t.Errorf("readiness probe %+v; want GET /readyz on admin", p)
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe %+v; want GET /healthz", p)
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds < 1 {
		t.Error("no preStop sleep")
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		mounted = mounted || m.MountPath == "/data"
	}
	if !mounted {
		t.Error("nothing mounted at /data")
	}
}

// TestIngressManifests: the ingress controller's manifests render, decode
// strictly, and install.yaml is exactly their rendering (what kubectl apply
// -f takes is what was reviewed); two replicas spread across nodes, a
// budget that lets one go, the restricted profile, probes on the admin port.
// TestIngressController applies them to a real API server.
func TestIngressManifests(t *testing.T) {
	deployments, services, pdbs, _, rendered := renderKustomization(t, "ingress")
	installed, err := os.ReadFile("../../deploy/kubernetes/ingress/install.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if string(installed) != string(rendered) {
		t.Error("deploy/kubernetes/ingress/install.yaml is not the rendering of its kustomization; run: go tool kustomize build deploy/kubernetes/ingress > deploy/kubernetes/ingress/install.yaml")
	}
	if len(deployments) != 1 || len(services) != 1 {
		t.Fatalf("%d deployments, %d services; want one of each", len(deployments), len(services))
	}
	d := deployments[0]
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas %v; want 2", d.Spec.Replicas)
	}
	checkDisruptionBudgets(t, deployments, pdbs)
	pod := d.Spec.Template.Spec
	checkRestricted(t, pod)
	if len(pod.TopologySpreadConstraints) == 0 || pod.TopologySpreadConstraints[0].TopologyKey != "kubernetes.io/hostname" {
		t.Errorf("no spread across nodes: %+v", pod.TopologySpreadConstraints)
	}
	if len(pod.Containers) != 1 || len(pod.Containers[0].Args) == 0 || pod.Containers[0].Args[0] != "kubernetes" {
		t.Fatalf("the container does not run rampart kubernetes: %+v", pod.Containers)
	}
	checkRampartContainer(t, pod.Containers[0])
	if s := services[0]; s.Spec.Type != corev1.ServiceTypeLoadBalancer {
		t.Errorf("service %s is %s; want LoadBalancer", s.Name, s.Spec.Type)
	}
}

// TestMigrate: rampart migrate on manifests written the way ingress-nginx
// users write them gives each Ingress its verdict, names every annotation
// that differs or is unsupported, and exits 1 because some would not be
// served.
func TestMigrate(t *testing.T) {
	out, err := exec.Command(rampartBin, "migrate", "testdata/migrate/ingress-nginx.yaml").CombinedOutput()
	if code := exitCode(t, err); code != 1 {
		t.Errorf("exit %d; want 1 (some Ingresses would not be served)\n%s", code, out)
	}
	for _, want := range []string{
		"shop/plain: works as is\n",
		"shop/rewrite: served, with 1 difference(s)\n  works as is: nginx.ingress.kubernetes.io/proxy-body-size, nginx.ingress.kubernetes.io/rewrite-target, nginx.ingress.kubernetes.io/ssl-redirect\n  differs: nginx.ingress.kubernetes.io/use-regex: ",
		"shop/limits: served, with 2 difference(s)\n",
		"  differs: nginx.ingress.kubernetes.io/enable-cors: ignored",
		"  differs: nginx.ingress.kubernetes.io/limit-rps: per client address, as in ingress-nginx; over the limit rampart answers 429",
		"shop/snippet: NOT SERVED until the unsupported parts are changed\n  unsupported: nginx.ingress.kubernetes.io/configuration-snippet: raw configuration, never taken",
		"shop/basic-auth: served, with 1 difference(s)\n  differs: nginx.ingress.kubernetes.io/auth-type: works if Secret shop/basic-auth holds bcrypt hashes (htpasswd -B)",
		"shop/timeout-with-unit: NOT SERVED until the unsupported parts are changed\n  unsupported: nginx.ingress.kubernetes.io/proxy-read-timeout: \"60s\" is not a whole number of seconds",
		"shop/redirect: served, with 1 difference(s)\n  works as is: nginx.ingress.kubernetes.io/permanent-redirect\n  differs: nginx.ingress.kubernetes.io/some-future-annotation: ignored",
		"rampart migrate: 7 Ingresses in the files (their Services and Secrets taken to exist): 1 work as is, 4 served with differences, 2 not served\n",
		"rampart: migrate: 2 of 7 Ingresses would not be served\n",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
	// A file that is not YAML of Ingresses: a setting error, exit 2.
	out, err = exec.Command(rampartBin, "migrate", "testdata/migrate/missing.yaml").CombinedOutput()
	if code := exitCode(t, err); code != 2 || !strings.Contains(string(out), "fix: ") {
		t.Errorf("a missing file: exit %d, %s; want 2 and the fix", code, out)
	}
}

// TestKubernetesSettings: rampart kubernetes refuses, before it reaches
// any cluster, the settings that the cluster's Ingresses replace, a TLS
// mode it has no use for and a Lease it cannot keep, each with its fix.
func TestKubernetesSettings(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--domain", "shop.example.com"}, "rampart: --domain: not read by rampart kubernetes"},
		{[]string{"--upstream", "http://127.0.0.1:8080"}, "rampart: --upstream: not read by rampart kubernetes"},
		{[]string{"--tls", "files"}, "rampart: --tls: files is not a mode of rampart kubernetes; fix: "},
		{[]string{"--lease-duration", "1500ms"}, "rampart: --lease-duration: \"1500ms\" is not a whole number of seconds"},
		{[]string{"--tls", "internal"}, "rampart: --kubeconfig: not in a cluster"},
	} {
		cmd := exec.Command(rampartBin, append([]string{"kubernetes"}, tt.args...)...)
		cmd.Env = append(os.Environ(), "KUBERNETES_SERVICE_HOST=")
		out, err := cmd.CombinedOutput()
		if code := exitCode(t, err); code != 2 || !strings.HasPrefix(string(out), tt.want) || !strings.Contains(string(out), "fix: ") {
			t.Errorf("rampart kubernetes %v: exit %d, %q; want 2 and %q with its fix", tt.args, code, out, tt.want)
		}
	}
}
