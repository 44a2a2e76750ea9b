// CoreDNS for the single-node cluster: upstream's coremain with the plugins that the cluster's
// Corefile (Kubernetes' own coredns.yaml.base, minus forward and loop) uses, and no others.
// Upstream's main (coredns.go) blank-imports core/plugin, which links every plugin CoreDNS ships,
// cloud DNS providers included; CoreDNS documents choosing plugins at compile time, and leaving
// them out here saves most of the build on 2 cores. The plugins' code is the same release's.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() {
	coremain.Run()
}
