package render

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// KustomizeOptions loosen Kustomize's sandbox per App.
type KustomizeOptions struct {
	// AllowRemote permits remote bases and URL resources. Off, any
	// reference that is not a file or directory of the repository is
	// refused before Kustomize runs, so nothing is fetched.
	AllowRemote bool
	// AllowHelm enables the helmCharts field (Kustomize's Helm inflation
	// generator, which runs a helm binary).
	AllowHelm bool
}

var kustomizationFiles = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// renderKustomize builds dir with krusty in-process, through the checkout
// filesystem, with builtin plugins only.
func renderKustomize(cfs *checkoutFS, dir string, opts Options) (*Result, error) {
	if err := checkKustomization(cfs, dir, opts.Kustomize, map[string]bool{}); err != nil {
		return nil, err
	}
	kopts := krusty.MakeDefaultOptions()
	kopts.LoadRestrictions = types.LoadRestrictionsRootOnly
	// Builtins only: exec and KRM function plugins are refused by Kustomize.
	kopts.PluginConfig = types.MakePluginConfig(types.PluginRestrictionsBuiltinsOnly, types.BploUseStaticallyLinked)
	kopts.PluginConfig.FnpLoadingOptions.EnableExec = false
	kopts.PluginConfig.HelmConfig.Enabled = opts.Kustomize.AllowHelm
	if opts.Kustomize.AllowHelm {
		kopts.PluginConfig.HelmConfig.Command = "helm"
	}
	kfs := &kustomizeFS{c: cfs, allowClones: opts.Kustomize.AllowRemote}
	defer kfs.close()
	resMap, err := krusty.MakeKustomizer(kopts).Run(kfs, cfs.absPath(dir))
	if err != nil {
		msg := kustomizeMessage(strings.ReplaceAll(err.Error(), cfs.abs+"/", ""))
		return nil, &wrapped{msg: fmt.Sprintf("%s: kustomize: %s", dir, msg), err: err}
	}
	res := &Result{}
	for i, r := range resMap.Resources() {
		// Through JSON: Kustomize's maps hold Go ints, which unstructured
		// objects do not allow.
		js, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("%s: kustomize: object %d: %w", dir, i, err)
		}
		var m map[string]any
		if err := utiljson.Unmarshal(js, &m); err != nil {
			return nil, fmt.Errorf("%s: kustomize: object %d: %w", dir, i, err)
		}
		res.Objects = append(res.Objects, Object{Object: &unstructured.Unstructured{Object: m}, Origin: Origin{File: dir, Index: i}})
	}
	return res, nil
}

// checkKustomization walks the kustomizations reachable from dir and refuses,
// before Kustomize runs, what Kustomize would otherwise fetch or execute:
// remote bases and URL resources (unless allowed), references that leave
// the repository, helmCharts (unless allowed) and function plugins.
func checkKustomization(cfs *checkoutFS, dir string, ko KustomizeOptions, seen map[string]bool) error {
	if seen[dir] {
		return nil
	}
	seen[dir] = true
	var file string
	var data []byte
	for _, name := range kustomizationFiles {
		p := path.Join(dir, name)
		if st, err := cfs.stat(p); err == nil && !st.IsDir() {
			b, err := cfs.readFile(p)
			if err != nil {
				return err
			}
			file, data = p, b
			break
		}
	}
	if file == "" {
		return nil // a plain directory used as a resource
	}
	var k types.Kustomization
	if err := yaml.Unmarshal(data, &k); err != nil {
		return fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "error converting YAML to JSON: "))
	}
	k.FixKustomization()
	if len(k.HelmCharts) > 0 && !ko.AllowHelm {
		return fmt.Errorf("%s: helmCharts: the Helm inflation generator is disabled (enable it with the kustomize AllowHelm option)", file)
	}
	// The generator runs the helm binary, which reads the disk directly:
	// at least its chart home must be inside the repository.
	if home := k.HelmGlobals; home != nil && home.ChartHome != "" {
		if h := path.Clean(home.ChartHome); path.IsAbs(h) || h == ".." || strings.HasPrefix(path.Join(dir, h), "..") {
			return fmt.Errorf("%s: helmGlobals.chartHome %q: %w", file, home.ChartHome, ErrOutsideRepository)
		}
	}
	refs := map[string][]string{
		"resources": k.Resources, "components": k.Components,
		"generators": k.Generators, "transformers": k.Transformers, "validators": k.Validators,
	}
	for _, field := range []string{"resources", "components", "generators", "transformers", "validators"} {
		for _, ref := range refs[field] {
			if strings.Contains(ref, "\n") {
				continue // inline plugin configuration
			}
			if isRemoteRef(ref) {
				if ko.AllowRemote {
					continue
				}
				return fmt.Errorf("%s: %s: remote reference %q refused (allow it with the kustomize AllowRemote option)", file, field, redactURL(ref))
			}
			target := path.Join(dir, ref)
			if strings.HasPrefix(ref, "/") || target == ".." || strings.HasPrefix(target, "../") {
				return fmt.Errorf("%s: %s: %q: %w", file, field, ref, ErrOutsideRepository)
			}
			st, err := cfs.stat(target)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", file, field, err)
			}
			if st.IsDir() {
				if err := checkKustomization(cfs, target, ko, seen); err != nil {
					return err
				}
				continue
			}
			if field != "resources" && field != "components" {
				if err := checkPluginConfig(cfs, target); err != nil {
					return fmt.Errorf("%s: %s: %w", file, field, err)
				}
			}
		}
	}
	return nil
}

// checkPluginConfig refuses generator/transformer configurations that ask
// for an exec or container KRM function.
func checkPluginConfig(cfs *checkoutFS, file string) error {
	data, err := cfs.readFile(file)
	if err != nil {
		return err
	}
	for _, d := range splitDocuments(data) {
		objs, err := decodeDocument(file, d, nil)
		if err != nil {
			return err
		}
		for _, u := range objs {
			for key := range u.GetAnnotations() {
				if key == "config.kubernetes.io/function" || key == "config.k8s.io/function" {
					return fmt.Errorf("%s: %s %s asks for a KRM function or exec plugin (annotation %s); only builtin plugins are allowed", file, u.GetKind(), u.GetName(), key)
				}
			}
		}
	}
	return nil
}

// isRemoteRef reports whether a kustomization reference names something to
// fetch (a URL, an scp-style git address or a host-prefixed repository path)
// rather than a path in the repository.
func isRemoteRef(ref string) bool {
	if strings.Contains(ref, "://") || strings.HasPrefix(ref, "git@") || strings.Contains(ref, "?ref=") || strings.Contains(ref, "?version=") {
		return true
	}
	first, _, _ := strings.Cut(ref, "/")
	return strings.Contains(first, ".") && first != "." && first != ".." && strings.Contains(ref, "/") &&
		(strings.HasSuffix(first, ".com") || strings.HasSuffix(first, ".org") || strings.HasSuffix(first, ".io") || strings.Contains(ref, "//"))
}

// redactURL drops userinfo and query strings from URLs in messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return s
	}
	if u.User != nil {
		u.User = url.User("redacted")
	}
	if u.RawQuery != "" {
		u.RawQuery = "redacted"
	}
	return u.String()
}

// notADirectory is Kustomize's second try at a resource it could not read
// as a file: as a directory. Its message wraps the first error in quotes
// and ends in "file is not directory", which hides the cause.
var notADirectory = regexp.MustCompile(`accumulation err='accumulating resources from '([^']+)': (.+)': must build at directory: '[^']*': file is not directory`)

// kustomizeMessage is Kustomize's error message with the cause kept and
// the retry as a directory left out.
func kustomizeMessage(msg string) string {
	return notADirectory.ReplaceAllString(msg, "accumulating resources from '$1': $2")
}

// wrapped is an error with its own message that still unwraps to its
// cause (for errors.Is on render's sentinels).
type wrapped struct {
	msg string
	err error
}

func (e *wrapped) Error() string { return e.msg }
func (e *wrapped) Unwrap() error { return e.err }
