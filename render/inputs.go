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
	// inputs too, every hop of a chain and what the symlinked directories
	// hold (targets that leave the repository fail the render).
	followSymlinks(cfs, set)
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

// followSymlinks adds to set what the symlinks under its directories
// lead to: each hop of a chain (a symlink to a symlink), the final target,
// and, for a target that is a directory, its own symlinks in turn. A
// symlinked directory in set (a Kustomize base) counts as its target too.
func followSymlinks(cfs *checkoutFS, set map[string]bool) {
	var dirs []string
	for p := range set {
		if p == "" || strings.HasSuffix(p, "/") {
			dirs = append(dirs, p)
		}
	}
	walked := map[string]bool{}
	for len(dirs) > 0 {
		d := strings.TrimSuffix(dirs[len(dirs)-1], "/")
		dirs = dirs[:len(dirs)-1]
		if d == "" {
			d = "."
		}
		if real, err := resolveDir(cfs, d); err == nil && real != d {
			set[asDir(real)] = true
			d = real
		}
		if walked[d] {
			continue
		}
		walked[d] = true
		for _, t := range symlinkChains(cfs, d) {
			set[t] = true
			if strings.HasSuffix(t, "/") && !walked[strings.TrimSuffix(t, "/")] {
				dirs = append(dirs, t)
			}
		}
	}
}

// symlinkChains returns, for each symlink under dir, every in-repository
// path its chain passes through, directories with a trailing "/".
func symlinkChains(cfs *checkoutFS, dir string) []string {
	var out []string
	_ = fs.WalkDir(cfs.root.FS(), dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return nil
		}
		cur := p
		for hops := 0; hops <= 40; hops++ {
			target, err := cfs.root.Readlink(cur)
			if err != nil || path.IsAbs(target) {
				return nil
			}
			t := path.Join(path.Dir(cur), target)
			if t == ".." || strings.HasPrefix(t, "../") {
				return nil
			}
			st, err := cfs.root.Lstat(t)
			if err != nil {
				return nil
			}
			if st.Mode()&fs.ModeSymlink == 0 {
				if st.IsDir() {
					t = asDir(t)
				}
				out = append(out, t)
				return nil
			}
			out = append(out, t) // a symlink on the way: retargeting it changes the render
			cur = t
		}
		return nil
	})
	return out
}
