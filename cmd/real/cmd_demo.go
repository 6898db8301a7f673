package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/realsync/real/config"
	"github.com/realsync/real/daemon"
	"github.com/realsync/real/identity"
)

// cmdDemo runs a household of two peers, alice and bob, in this process on
// loopback, with temporary stores and mountpoints under one temp directory.
// It writes sample files on alice, shows them arriving on bob, then runs
// until Ctrl-C, unmounts everything and removes the temp directory.
func cmdDemo(args []string, stdout, stderr io.Writer) error {
	fs := flags("demo", stderr)
	keep := fs.Bool("keep", false, "keep the temporary stores after stopping")
	verbose := fs.Bool("verbose", false, "log debug messages")
	if err := parse(fs, args, nil); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if err := daemon.Preflight(); err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	top, err := os.MkdirTemp("", "real-demo-")
	if err != nil {
		return err
	}
	names := []string{"alice", "bob"}
	const arena = "shared"
	stores, mounts := map[string]string{}, map[string]string{}
	keys, addrs := map[string]string{}, map[string]string{}
	for _, n := range names {
		stores[n] = filepath.Join(top, n, "store")
		mounts[n] = filepath.Join(top, n, "mnt")
		port, err := freePort()
		if err != nil {
			return err
		}
		addrs[n] = fmt.Sprintf("127.0.0.1:%d", port)
		if err := run1(cmdInit, "--store", stores[n], "--name", n, "--listen", addrs[n]); err != nil {
			return err
		}
		priv, err := identity.Load(filepath.Join(stores[n], daemon.KeyFile))
		if err != nil {
			return err
		}
		keys[n] = identity.Public(priv).String()
	}
	for _, n := range names {
		cfg, err := config.Load(stores[n])
		if err != nil {
			return err
		}
		for _, o := range names {
			if o != n {
				cfg.Peers = append(cfg.Peers, config.Peer{Name: o, Address: addrs[o], Key: keys[o]})
			}
		}
		cfg.Arenas = []config.Arena{{Name: arena}}
		if err := cfg.Save(stores[n]); err != nil {
			return err
		}
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, len(names))
	ready := make(chan string, len(names))
	for _, n := range names {
		go func() {
			done <- daemon.Run(runCtx, daemon.Options{
				Store: stores[n], Mount: mounts[n], Log: log.With("demo", n),
				Ready: func(daemon.Ready) { ready <- n },
			})
		}()
	}
	var runErr error
	for up := 0; up < len(names) && runErr == nil; {
		select {
		case <-ready:
			up++
		case err := <-done:
			runErr = fmt.Errorf("a peer stopped while starting: %w", err)
			done <- nil
		case <-ctx.Done():
			runErr = ctx.Err()
		}
	}
	if runErr == nil {
		fmt.Fprintf(stdout, "household of two peers in %s\n", top)
		for _, n := range names {
			fmt.Fprintf(stdout, "  %-6s merged view %s  (listens on %s)\n", n, mounts[n], addrs[n])
		}
		runErr = demoFiles(ctx, stdout, filepath.Join(mounts["alice"], arena), filepath.Join(mounts["bob"], arena))
	}
	if runErr == nil {
		fmt.Fprintf(stdout, "\nTry it: write files under %s and list %s. Ctrl-C stops.\n", filepath.Join(mounts["alice"], arena), filepath.Join(mounts["bob"], arena))
		select {
		case <-ctx.Done():
		case err := <-done:
			runErr = fmt.Errorf("a peer stopped: %w", err)
			done <- nil
		}
	}
	cancel()
	for range names {
		if err := <-done; err != nil && runErr == nil && !errors.Is(err, context.Canceled) {
			runErr = err
		}
	}
	if errors.Is(runErr, context.Canceled) {
		runErr = nil
	}
	if *keep || runErr != nil {
		fmt.Fprintf(stdout, "stores kept in %s\n", top)
	} else {
		os.RemoveAll(top)
		fmt.Fprintln(stdout, "stopped; everything unmounted and removed")
	}
	return runErr
}

// demoFiles writes sample files on the first view and waits until the
// second shows each with the same bytes.
func demoFiles(ctx context.Context, stdout io.Writer, from, to string) error {
	big := make([]byte, 1<<20)
	rand.Read(big)
	files := []struct {
		name string
		data []byte
	}{
		{"hello.txt", []byte("Hello from alice.\n")},
		{"notes/todo.md", []byte("# todo\n- look at this file from bob's side\n")},
		{"random-1MiB.bin", big},
	}
	fmt.Fprintln(stdout, "\nalice writes:")
	for _, f := range files {
		p := filepath.Join(from, f.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  %s (%d bytes)\n", p, len(f.data))
	}
	fmt.Fprintln(stdout, "bob sees:")
	for _, f := range files {
		p := filepath.Join(to, f.name)
		start := time.Now()
		for {
			b, err := os.ReadFile(p)
			if err == nil && bytes.Equal(b, f.data) {
				fmt.Fprintf(stdout, "  %s (%d bytes, identical, after %s)\n", p, len(b), time.Since(start).Round(time.Millisecond))
				break
			}
			if time.Since(start) > 15*time.Second {
				return fmt.Errorf("%s did not appear on bob within 15 s (last error: %v)", p, err)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

func run1(cmd func([]string, io.Writer, io.Writer) error, args ...string) error {
	return cmd(args, io.Discard, io.Discard)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
