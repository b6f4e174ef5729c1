package render

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// Inputs lists, without rendering, the repository paths a render of src
// reads: its own directory, the Kustomize bases and components it reaches,
// and Helm value files. A change under any of them can change the render;
// a change elsewhere cannot. Paths are slash-separated and relative to the
// root; directories end in "/".
func Inputs(src Source, opts Options) ([]string, error) {
	opts.Limits = opts.Limits.WithDefaults()
	cfs, dir, kind, err := openSource(src, opts)
	if err != nil {
		return nil, err
	}
	defer cfs.Close()
	set := map[string]bool{asDir(dir): true}
	// The App's directory may itself be (or sit under) a symlink: its target
	// is what the render reads.
	if real, err := resolveDir(cfs, dir); err == nil && real != dir {
		set[asDir(real)] = true
	}
	switch kind {
	case Kustomize:
		seen := map[string]bool{}
		// Errors (a remote base, say) are the render's to report; the
		// directories reached so far still count.
		_ = checkKustomization(cfs, dir, KustomizeOptions{AllowRemote: true, AllowHelm: true}, seen)
		for d := range seen {
			set[asDir(d)] = true
		}
	case Helm:
		for _, f := range opts.Helm.ValueFiles {
			if p, err := valueFilePath(dir, f); err == nil {
				set[p] = true // one outside the repository fails the render itself
			}
		}
	}
	// Renders read through in-repository symlinks, so their targets are
	// inputs too (targets that leave the repository fail the render).
	dirs := make([]string, 0, len(set))
	for p := range set {
		if p == "" || strings.HasSuffix(p, "/") {
			dirs = append(dirs, p)
		}
	}
	for _, d := range dirs {
		for _, t := range symlinkTargets(cfs, strings.TrimSuffix(d, "/")) {
			set[t] = true
		}
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}

func asDir(d string) string {
	if d == "." {
		return ""
	}
	return d + "/"
}

// Affected reports whether any changed path falls under one of inputs
// (as returned by Inputs: "" is the whole repository), or is a parent of
// one (a symlink on the way to it was retargeted).
func Affected(inputs, changed []string) bool {
	for _, in := range inputs {
		for _, c := range changed {
			if in == "" || c == in || (strings.HasSuffix(in, "/") && strings.HasPrefix(c, in)) || strings.HasPrefix(in, c+"/") {
				return true
			}
		}
	}
	return false
}

// resolveDir follows symlinks along dir, inside the repository.
func resolveDir(cfs *checkoutFS, dir string) (string, error) {
	if dir == "." {
		return dir, nil
	}
	out := "."
	for _, part := range strings.Split(dir, "/") {
		next := path.Join(out, part)
		for hops := 0; ; hops++ {
			info, err := cfs.root.Lstat(next)
			if err != nil {
				return "", err
			}
			if info.Mode()&fs.ModeSymlink == 0 {
				break
			}
			if hops > 40 {
				return "", fmt.Errorf("%s: too many symlinks", dir)
			}
			target, err := cfs.root.Readlink(next)
			if err != nil || path.IsAbs(target) {
				return "", fmt.Errorf("%s: %w", dir, ErrOutsideRepository)
			}
			next = path.Join(path.Dir(next), target)
			if next == ".." || strings.HasPrefix(next, "../") {
				return "", fmt.Errorf("%s: %w", dir, ErrOutsideRepository)
			}
		}
		out = next
	}
	return out, nil
}

// symlinkTargets returns the in-repository targets of the symlinks under
// dir ("" for the root), directories with a trailing "/".
func symlinkTargets(cfs *checkoutFS, dir string) []string {
	if dir == "" {
		dir = "."
	}
	var out []string
	_ = fs.WalkDir(cfs.root.FS(), dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		target, err := cfs.root.Readlink(p)
		if err != nil || path.IsAbs(target) {
			return nil
		}
		t := path.Join(path.Dir(p), target)
		if t == ".." || strings.HasPrefix(t, "../") {
			return nil
		}
		if st, err := cfs.stat(t); err == nil && st.IsDir() {
			t = asDir(t)
		}
		out = append(out, t)
		return nil
	})
	return out
}
