package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/realsync/real/verify"
)

// cmdVerify: exit 0 clean, 1 findings, 2 could not check.
func cmdVerify(args []string, stdout, stderr io.Writer) error {
	fs := flags("verify", stderr)
	store := fs.String("store", "", "store directory")
	asJSON := fs.Bool("json", false, "print the findings as a JSON array of {code, path, detail}")
	if err := parse(fs, args, map[string]*string{"store": store}); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	findings, err := verify.Store(context.Background(), *store)
	if err != nil {
		return exitCode{exitUsage, err.Error()}
	}
	if *asJSON {
		if findings == nil {
			findings = []verify.Finding{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(findings); err != nil {
			return err
		}
	} else {
		for _, f := range findings {
			fmt.Fprintf(stdout, "%s\t%s\t%s\n", f.Code, f.Path, f.Detail)
		}
		if len(findings) == 0 {
			fmt.Fprintln(stdout, "clean")
		}
	}
	if len(findings) > 0 {
		return exitCode{exitFail, fmt.Sprintf("%d findings", len(findings))}
	}
	return nil
}
