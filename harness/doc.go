// Package harness runs several `real` peers on one machine, each in its own
// mount namespace and network namespace, joined by veth pairs to a bridge in a
// "switch" namespace: a household of containers without a container runtime.
//
// A test builds a household with New, starts peers, changes files through a
// peer's merged view (seen from the test process via /proc/PID/root) or
// directly in a stopped peer's store, cuts peers off the network and heals
// them, kills them with SIGKILL and restarts them, and waits for the others to
// converge with Eventually. Everything a household makes (processes,
// namespaces, links, mounts, temp dirs) is removed in t.Cleanup, and the
// cleanup asserts that no mount is left on the host.
//
// The building blocks are usable without the binary: NewNetwork makes only
// the namespaces and links, and Node.Start runs any program inside one.
// See README.md.
package harness
