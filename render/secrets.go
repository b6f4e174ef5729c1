package render

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// scrubRenderError hides, in a failed render's error, the Secret values
// the source holds: the failure may be in the very Secret that would have
// taught the masker its values (a malformed Secret, a secretGenerator
// literal without "="), so they are learned from the files themselves,
// after the failure and only then. Parsers quote what they could not read.
func scrubRenderError(src Source, opts Options, err error) error {
	if err == nil {
		return nil
	}
	values := sourceSecretValues(src, opts)
	msg := err.Error()
	scrubbed := msg
	for _, v := range values {
		scrubbed = strings.ReplaceAll(scrubbed, v, "***")
	}
	scrubbed = shorten(scrubbed)
	if scrubbed == msg {
		return err
	}
	return &wrapped{msg: scrubbed, err: err}
}

// maxErrorLen bounds a render error: Helm nests a template's error in each
// include that led to it, so a recursion reads as 80 KB of repetition.
const maxErrorLen = 2000

// shorten keeps the start and the end of a long message (where the
// template that failed and the cause are), and says how much it cut.
func shorten(s string) string {
	if len(s) <= maxErrorLen {
		return s
	}
	head, tail := s[:maxErrorLen/2], s[len(s)-maxErrorLen/2:]
	for len(head) > 0 && !utf8.ValidString(head) {
		head = head[:len(head)-1]
	}
	for len(tail) > 0 && !utf8.ValidString(tail) {
		tail = tail[1:]
	}
	return fmt.Sprintf("%s … (%d bytes cut) … %s", head, len(s)-len(head)-len(tail), tail)
}

// sourceSecretValues are the Secret values of the YAML files under src's
// directory (the first 10,000 files): Secret documents' data (and its
// decoding) and stringData, and Kustomize secretGenerator literals, env
// files and files. Longest first, so a value that holds another goes first.
func sourceSecretValues(src Source, opts Options) []string {
	opts.Limits = opts.Limits.WithDefaults()
	cfs, dir, _, err := openSource(src, opts)
	if err != nil {
		return nil
	}
	defer cfs.Close()
	seen := map[string]bool{}
	add := func(s string) {
		if s = strings.TrimSpace(s); len(s) >= 3 { // shorter would mask ordinary words
			seen[s] = true
		}
	}
	files := 0
	_ = fs.WalkDir(cfs.root.FS(), dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !isYAMLName(p) {
			return nil
		}
		if files++; files > 10000 {
			return fs.SkipAll
		}
		data, err := cfs.readFile(p)
		if err != nil {
			return nil
		}
		if kustomizationName(p) {
			generatorValues(cfs, path.Dir(p), data, add)
			return nil
		}
		for _, doc := range splitDocuments(data) {
			secretDocValues(doc.data, add)
		}
		return nil
	})
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

func kustomizationName(p string) bool {
	for _, name := range kustomizationFiles {
		if path.Base(p) == name {
			return true
		}
	}
	return false
}

var secretKind = regexp.MustCompile(`(?m)^kind:\s*["']?Secret["']?\s*$`)

// secretDocValues learns a Secret document's values; one that does not
// parse gives the values of its data and stringData lines as written.
func secretDocValues(doc []byte, add func(string)) {
	if !secretKind.Match(doc) {
		return
	}
	var s struct {
		Data       map[string]string `json:"data"`
		StringData map[string]string `json:"stringData"`
	}
	if err := yaml.Unmarshal(doc, &s); err == nil {
		for _, v := range s.Data {
			add(v)
			if raw, err := base64.StdEncoding.DecodeString(v); err == nil {
				add(string(raw))
			}
		}
		for _, v := range s.StringData {
			add(v)
			add(base64.StdEncoding.EncodeToString([]byte(v)))
		}
		return
	}
	in := false
	for _, line := range strings.Split(string(doc), "\n") {
		switch {
		case strings.HasPrefix(line, "data:") || strings.HasPrefix(line, "stringData:"):
			in = true
		case len(line) > 0 && line[0] != ' ' && line[0] != '\t':
			in = false
		case in:
			if _, v, ok := strings.Cut(line, ":"); ok {
				add(strings.Trim(strings.TrimSpace(v), `"'`))
			}
			add(line)
		}
	}
}

// generatorValues learns a kustomization's secretGenerator values: each
// literal's value (a literal without "=", whole), and the lines and
// values of its env files and files.
func generatorValues(cfs *checkoutFS, dir string, data []byte, add func(string)) {
	var k types.Kustomization
	if err := yaml.Unmarshal(data, &k); err != nil {
		return
	}
	for _, g := range k.SecretGenerator {
		for _, lit := range g.LiteralSources {
			add(lit)
			if _, v, ok := strings.Cut(lit, "="); ok {
				add(v)
			}
		}
		for _, f := range append(append([]string{}, g.EnvSources...), g.FileSources...) {
			if _, p, ok := strings.Cut(f, "="); ok {
				f = p // key=path
			}
			b, err := cfs.readFile(path.Join(dir, f))
			if errors.Is(err, ErrOutsideRepository) || err != nil {
				continue
			}
			add(string(b))
			for _, line := range strings.Split(string(b), "\n") {
				add(line)
				if _, v, ok := strings.Cut(line, "="); ok {
					add(v)
				}
			}
		}
	}
}
