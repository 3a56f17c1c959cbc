// Command pause holds a pod's namespaces open for containerd's sandbox, as the kubelet expects of its
// "pause" image: it sleeps until SIGINT or SIGTERM and reaps the zombies it inherits as the pod's PID 1.
// Built here because the tests reach no registry that holds registry.k8s.io/pause.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
