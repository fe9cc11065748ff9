// Command etcd is etcd's own main, built from go.etcd.io/etcd/server/v3 so that
// .ci/kube/build needs nothing beyond the Go module proxy.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
