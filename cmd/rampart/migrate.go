package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/rampart-proxy/rampart/kube"
)

// runMigrate is `rampart migrate`: before anyone switches, it reads the
// Ingresses of a cluster (or of files) and prints, per Ingress, what will
// work as is under rampart, what behaves differently and what is not
// supported. It changes nothing. Exit status 0: every Ingress would be
// served (perhaps with differences); 1: some would not.
func runMigrate(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("rampart migrate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	kubeconfig := fs.String("kubeconfig", "", "read the cluster's Ingresses (every namespace) with this kubeconfig; empty, and no FILE: kubectl's (KUBECONFIG, ~/.kube/config), or in a Pod its ServiceAccount")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, "rampart migrate [FILE ...] [--kubeconfig FILE]: judge Ingress objects written for ingress-nginx before switching to rampart.\n"+
				"With FILEs (YAML, --- between objects, or kubectl's List; - for standard input) it reads those; without, the cluster's.\n"+
				"Per Ingress: what works as is, what differs, what is unsupported. Exit 0: all would be served; 1: some would not.")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return err
		}
		return &settingError{"rampart migrate", err.Error(), "rampart migrate [FILE ...] [--kubeconfig FILE]"}
	}
	var snap kube.Snapshot
	cluster := fs.NArg() == 0
	if cluster {
		var err error
		if snap, err = clusterSnapshot(ctx, *kubeconfig); err != nil {
			return err
		}
	}
	for _, file := range fs.Args() {
		data, err := readInput(file, stdin)
		if err != nil {
			return &settingError{file, err.Error(), "give a readable YAML file of Ingress objects"}
		}
		ings, err := ingressesIn(data)
		if err != nil {
			return &settingError{file, err.Error(), "give Ingress objects as kubectl get ingress -o yaml writes them"}
		}
		snap.Ingresses = append(snap.Ingresses, ings...)
	}
	if len(snap.Ingresses) == 0 {
		fmt.Fprintln(stdout, "rampart migrate: no Ingress found")
		return nil
	}
	reviews := kube.ReviewIngresses(snap, kube.Options{}, cluster)
	asIs, differ, notServed := 0, 0, 0
	for _, r := range reviews {
		var works, differs, unsupported []string
		for _, n := range r.Notes {
			if n.With != "" && n.Verdict != kube.Honoured {
				continue // told with the annotation it goes with
			}
			switch n.Verdict {
			case kube.Honoured:
				works = append(works, n.Annotation)
			case kube.Differs:
				differs = append(differs, n.Annotation+": "+n.Message)
			case kube.Refused:
				unsupported = append(unsupported, n.Annotation+": "+n.Message)
			}
		}
		for _, p := range r.Problems {
			if p.Served {
				differs = append(differs, p.Reason+": "+p.Message)
			} else {
				unsupported = append(unsupported, p.Reason+": "+p.Message)
			}
		}
		verdict := "works as is"
		switch {
		case !r.Served():
			verdict, notServed = "NOT SERVED until the unsupported parts are changed", notServed+1
		case len(differs) > 0:
			verdict, differ = fmt.Sprintf("served, with %d difference(s)", len(differs)), differ+1
		default:
			asIs++
		}
		fmt.Fprintf(stdout, "%s: %s\n", r.Ingress, verdict)
		if len(works) > 0 {
			fmt.Fprintf(stdout, "  works as is: %s\n", strings.Join(works, ", "))
		}
		for _, d := range differs {
			fmt.Fprintf(stdout, "  differs: %s\n", d)
		}
		for _, u := range unsupported {
			fmt.Fprintf(stdout, "  unsupported: %s\n", u)
		}
	}
	where := "in the files (their Services and Secrets taken to exist)"
	if cluster {
		where = "in the cluster"
	}
	fmt.Fprintf(stdout, "rampart migrate: %d Ingresses %s: %d work as is, %d served with differences, %d not served\n", len(reviews), where, asIs, differ, notServed)
	if notServed > 0 {
		return fmt.Errorf("migrate: %d of %d Ingresses would not be served", notServed, len(reviews))
	}
	return nil
}

func readInput(file string, stdin io.Reader) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(file)
}

// ingressesIn decodes the Ingresses among YAML documents (a List's items
// too); other kinds are skipped.
func ingressesIn(data []byte) ([]networkingv1.Ingress, error) {
	var out []networkingv1.Ingress
	for i, doc := range bytes.Split(data, []byte("\n---")) {
		var head struct {
			Kind  string
			Items []map[string]any
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return nil, fmt.Errorf("document %d: %v", i+1, err)
		}
		docs := [][]byte{doc}
		if head.Kind == "List" || strings.HasSuffix(head.Kind, "List") {
			docs = docs[:0]
			for _, item := range head.Items {
				b, err := yaml.Marshal(item)
				if err != nil {
					return nil, err
				}
				docs = append(docs, b)
			}
		}
		for _, d := range docs {
			var kind struct{ Kind string }
			_ = yaml.Unmarshal(d, &kind)
			if kind.Kind != "Ingress" {
				continue
			}
			var ing networkingv1.Ingress
			if err := yaml.UnmarshalStrict(d, &ing); err != nil {
				return nil, fmt.Errorf("document %d: %v", i+1, err)
			}
			if ing.Namespace == "" {
				ing.Namespace = "default"
			}
			out = append(out, ing)
		}
	}
	return out, nil
}

// clusterSnapshot lists what a review needs from the cluster.
func clusterSnapshot(ctx context.Context, kubeconfig string) (kube.Snapshot, error) {
	var s kube.Snapshot
	rc, err := restConfig(kubeconfig)
	if kubeconfig == "" && os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
		// Outside the cluster: kubectl's own (KUBECONFIG, ~/.kube/config).
		rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(), nil).ClientConfig()
	}
	if err != nil {
		return s, &settingError{"--kubeconfig", err.Error(), "give --kubeconfig, or FILEs of Ingress objects"}
	}
	k, err := kube.NewClients(rc)
	if err != nil {
		return s, err
	}
	ings, err := k.Networking.Ingresses("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return s, fmt.Errorf("listing Ingresses: %w", err)
	}
	svcs, err := k.Core.Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return s, fmt.Errorf("listing Services: %w", err)
	}
	eps, err := k.Discovery.EndpointSlices("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return s, fmt.Errorf("listing EndpointSlices: %w", err)
	}
	secrets, err := k.Core.Secrets("").List(ctx, metav1.ListOptions{FieldSelector: "type=" + kube.SecretTypeTLS})
	if err != nil {
		return s, fmt.Errorf("listing TLS Secrets: %w", err)
	}
	s.Ingresses, s.Services, s.EndpointSlices, s.Secrets = ings.Items, svcs.Items, eps.Items, secrets.Items
	s.AuthSecrets = (&authSecrets{}).fetch(k, s.Ingresses, nil)
	return s, nil
}
