package main

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

type versionFlags struct {
	output string
}

// versionInfo is what `plumb version` reports, all of it from the binary's
// build information (no linker flags to keep in step).
type versionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	CommitAt  string `json:"commitTime,omitempty"`
	Modified  bool   `json:"modified"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

func newVersionCmd(s streams) *cobra.Command {
	f := &versionFlags{}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print plumb's version, commit and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVersion(s.out, f)
		},
	}
	cmd.Flags().StringVarP(&f.output, "output", "o", "text", "text or json")
	return cmd
}

func runVersion(w io.Writer, f *versionFlags) error {
	info := readVersionInfo()
	switch f.output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	case "text":
		commit := info.Commit
		if info.CommitAt != "" {
			commit += " (" + info.CommitAt + ")"
		}
		if info.Modified {
			commit += " with local modifications"
		}
		_, err := fmt.Fprintf(w, "plumb %s\ncommit: %s\ngo: %s %s\n", info.Version, commit, info.GoVersion, info.Platform)
		return err
	default:
		return fmt.Errorf("--output: unknown format %q (want text or json)", f.output)
	}
}

func readVersionInfo() versionInfo {
	v := versionInfo{
		Version:   "unknown",
		Commit:    "unknown",
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.CommitAt = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}
