// Command coredns is CoreDNS with the three plugins a test cluster's DNS needs: it answers for
// Services and the pods behind headless Services (an Indexed Job's ranks find each other by name),
// listening on the real node's bridge. CoreDNS compiles its plugins in; this keeps the build to
// these, not the hundred-odd of the full binary.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
)

func init() {
	// The order in which the plugins see a query; a plugin not listed here is never set up.
	dnsserver.Directives = []string{"bind", "errors", "kubernetes"}
}

func main() {
	coremain.Run()
}
