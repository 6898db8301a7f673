package main

import (
	"context"
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
	return daemon.Run(ctx, daemon.Options{Store: *store, Mount: *mount, Log: log})
}
