package kube

import (
	"k8s.io/client-go/kubernetes/typed/coordination/v1"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	discoveryv1client "k8s.io/client-go/kubernetes/typed/discovery/v1"
	networkingv1client "k8s.io/client-go/kubernetes/typed/networking/v1"
	"k8s.io/client-go/rest"
)

// Clients reaches the API server through the typed clients of the four
// API groups rampart reads and writes, not Kubernetes' whole clientset:
// every group's client brings its types, listers, informers and apply
// configurations into the binary, and the whole set with its informer
// factory made rampart four times the size. The zero value has none.
type Clients struct {
	Core         typedcorev1.CoreV1Interface
	Networking   networkingv1client.NetworkingV1Interface
	Discovery    discoveryv1client.DiscoveryV1Interface
	Coordination v1.CoordinationV1Interface
}

// NewClients makes the four clients for cfg.
func NewClients(cfg *rest.Config) (*Clients, error) {
	var c Clients
	var err error
	if c.Core, err = typedcorev1.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if c.Networking, err = networkingv1client.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if c.Discovery, err = discoveryv1client.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if c.Coordination, err = v1.NewForConfig(cfg); err != nil {
		return nil, err
	}
	return &c, nil
}
