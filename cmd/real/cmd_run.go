package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os/signal"
	"syscall"

	"github.com/realsync/real/daemon"
)

func cmdRun(args []string, stdout, stderr io.Writer) error {
	fs := flags("run", stderr)
	store := fs.String("store", "", "store directory")
	mount := fs.String("mount", "", "merged mountpoint (default: mount in real.toml)")
	verbose := fs.Bool("verbose", false, "log debug messages")
	if err := parse(fs, args, map[string]*string{"store": store}); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	// One root context, cancelled on SIGINT or SIGTERM: Run then unmounts
	// the overlay, the Unreal, and closes the database.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return runPeer(ctx, daemon.Options{Store: *store, Mount: *mount, Log: log})
}

// runPeer runs the peer until ctx is done. A stop asked for while it was
// still starting (a long catch-up) is a clean stop too: Run left nothing
// mounted, and the next start catches up.
func runPeer(ctx context.Context, o daemon.Options) error {
	err := daemon.Run(ctx, o)
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		o.Log.Info("stopped while starting", "err", err)
		return nil
	}
	return err
}
