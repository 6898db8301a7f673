package harness

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/realsync/real/privtest"
)

// IPPath is where the harness expects `ip` from iproute2 when it is not on PATH.
const IPPath = "/usr/sbin/ip"

// netnsDir is where `ip netns add` keeps its namespace handles.
const netnsDir = "/run/netns"

// Network is a set of network namespaces, one per node, each with an
// interface eth0 plugged by a veth pair into the bridge br0 of one more
// namespace, the switch. Addresses come from one /24 of 10.231.0.0/16.
type Network struct {
	// ID is the random part shared by every namespace name of this network.
	ID string
	// Subnet is the /24 the nodes' addresses are in.
	Subnet netip.Prefix
	// Switch is the name of the namespace holding the bridge.
	Switch string
	// Nodes are in the order of the names given to NewNetwork.
	Nodes []*Node

	ip string
}

// Node is one network namespace of a Network.
type Node struct {
	// Name is the name given to NewNetwork.
	Name string
	// NS is the network namespace name (as `ip netns` lists it).
	NS string
	// IP is the node's address on eth0.
	IP netip.Addr

	net    *Network
	swPort string // the veth end in the switch namespace
}

var nodeName = regexp.MustCompile(`^[a-z][a-z0-9]{0,11}$`)

// NewNetwork makes the namespaces and links for the given node names
// (lowercase letters and digits, starting with a letter, at most 12) and
// deletes them all in t.Cleanup, after killing any process left inside.
// It first calls privtest.Require(t), and fails t naming the iproute2
// package when `ip` is missing.
func NewNetwork(t testing.TB, names ...string) *Network {
	t.Helper()
	privtest.Require(t)
	ip, err := findIP()
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	if len(names) == 0 || len(names) > 200 {
		t.Fatalf("harness: NewNetwork needs 1 to 200 node names, got %d", len(names))
	}
	seen := map[string]bool{}
	for _, n := range names {
		if !nodeName.MatchString(n) {
			t.Fatalf("harness: node name %q: want lowercase letters and digits, starting with a letter, at most 12", n)
		}
		if seen[n] {
			t.Fatalf("harness: node name %q given twice", n)
		}
		seen[n] = true
	}
	sweepStale(ip, t)

	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatalf("harness: random id: %v", err)
	}
	nw := &Network{
		ID: hex.EncodeToString(rnd[:3]),
		// Every household has its own namespaces, so subnets of two
		// households never meet; a random one only makes logs distinct.
		Subnet: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 231, rnd[3], 0}), 24),
		ip:     ip,
	}
	prefix := fmt.Sprintf("rh%d-%s-", os.Getpid(), nw.ID)
	nw.Switch = prefix + "sw"
	t.Cleanup(func() { nw.teardown(t) })

	nw.run(t, "netns", "add", nw.Switch)
	nw.run(t, "-n", nw.Switch, "link", "set", "lo", "up")
	nw.run(t, "-n", nw.Switch, "link", "add", "br0", "type", "bridge")
	nw.run(t, "-n", nw.Switch, "link", "set", "br0", "up")
	base := nw.Subnet.Addr().As4()
	for i, name := range names {
		a := base
		a[3] = byte(10 + i)
		n := &Node{Name: name, NS: prefix + name, IP: netip.AddrFrom4(a), net: nw, swPort: fmt.Sprintf("p%d", i)}
		nw.Nodes = append(nw.Nodes, n)
		nw.run(t, "netns", "add", n.NS)
		nw.run(t, "-n", n.NS, "link", "set", "lo", "up")
		nw.run(t, "link", "add", "eth0", "netns", n.NS, "type", "veth", "peer", "name", n.swPort, "netns", nw.Switch)
		nw.run(t, "-n", nw.Switch, "link", "set", n.swPort, "master", "br0")
		nw.run(t, "-n", nw.Switch, "link", "set", n.swPort, "up")
		nw.run(t, "-n", n.NS, "addr", "add", netip.PrefixFrom(n.IP, 24).String(), "dev", "eth0")
		nw.run(t, "-n", n.NS, "link", "set", "eth0", "up")
	}
	return nw
}

// Node returns the node called name, failing t if there is none.
func (nw *Network) Node(t testing.TB, name string) *Node {
	t.Helper()
	for _, n := range nw.Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("harness: no node %q", name)
	return nil
}

// Namespaces returns the names of every namespace of the network, the
// switch included.
func (nw *Network) Namespaces() []string {
	out := []string{nw.Switch}
	for _, n := range nw.Nodes {
		out = append(out, n.NS)
	}
	return out
}

// Command returns a command that runs name with args inside the node's
// network namespace, in a new mount namespace of its own (`ip netns exec`
// unshares one and makes / a recursive slave, so mounts made inside stay
// private to it and vanish with its last process).
func (n *Node) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, n.net.ip, append([]string{"netns", "exec", n.NS, name}, args...)...)
}

// CutOff sets the node's port on the switch down: like a pulled cable, the
// node keeps its address but reaches no other node and none reaches it.
func (n *Node) CutOff(t testing.TB) {
	t.Helper()
	n.net.run(t, "-n", n.net.Switch, "link", "set", n.swPort, "down")
}

// Heal sets the node's port on the switch up again after CutOff.
func (n *Node) Heal(t testing.TB) {
	t.Helper()
	n.net.run(t, "-n", n.net.Switch, "link", "set", n.swPort, "up")
}

func (nw *Network) run(t testing.TB, args ...string) {
	t.Helper()
	if out, err := runIP(nw.ip, args...); err != nil {
		t.Fatalf("harness: %v", errors.Join(err, errors.New(out)))
	}
}

func runIP(ip string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var buf bytes.Buffer
	cmd := exec.CommandContext(ctx, ip, args...)
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return strings.TrimSpace(buf.String()), fmt.Errorf("ip %s: %w", strings.Join(args, " "), err)
	}
	return buf.String(), nil
}

func findIP() (string, error) {
	if p, err := exec.LookPath("ip"); err == nil {
		return p, nil
	}
	if _, err := os.Stat(IPPath); err == nil {
		return IPPath, nil
	}
	return "", fmt.Errorf("`ip` not found on PATH nor at %s: install the iproute2 package (apt-get install iproute2)", IPPath)
}

// teardown kills what is left in the namespaces and deletes them. It
// reports every failure and goes on, so one stuck namespace does not leave
// the others behind.
func (nw *Network) teardown(t testing.TB) {
	t.Helper()
	names := nw.Namespaces()
	for _, ns := range names {
		if _, err := os.Stat(netnsDir + "/" + ns); err != nil {
			continue // never made
		}
		killNetnsPids(nw.ip, ns)
		if out, err := runIP(nw.ip, "netns", "del", ns); err != nil {
			t.Errorf("harness: teardown: %v: %s", err, out)
		}
	}
	for _, ns := range names {
		if _, err := os.Stat(netnsDir + "/" + ns); err == nil {
			t.Errorf("harness: teardown: namespace %s is still in %s", ns, netnsDir)
		}
	}
}

// killNetnsPids SIGKILLs every process still in namespace ns and waits a
// little for them to go.
func killNetnsPids(ip, ns string) {
	for try := 0; try < 50; try++ {
		out, err := runIP(ip, "netns", "pids", ns)
		if err != nil || strings.TrimSpace(out) == "" {
			return
		}
		for _, f := range strings.Fields(out) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var staleName = regexp.MustCompile(`^rh(\d+)-[0-9a-f]+-`)

// sweepStale deletes namespaces left by earlier harness test processes that
// died before their cleanup ran (their names carry the dead process's pid).
func sweepStale(ip string, t testing.TB) {
	entries, err := os.ReadDir(netnsDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		m := staleName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		killNetnsPids(ip, e.Name())
		if _, err := runIP(ip, "netns", "del", e.Name()); err == nil {
			t.Logf("harness: deleted namespace %s left by dead process %d", e.Name(), pid)
		}
	}
}
