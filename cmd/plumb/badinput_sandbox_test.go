package main

import (
	"strconv"
	"strings"
)

// badCase is one entry of the bad input catalogue.
type badCase struct {
	name  string
	files map[string]string
	links map[string]string // name → symlink target
	fifo  string            // a named pipe to make
	args  []string
	want  []string
	hide  []string // must appear in no output
}

// sandboxCases are the inputs that exhaust whatever renders them: memory
// bombs the input caps do not see, a stack overflow, renders that never
// end, output past its cap. The render worker stops each at its limit.
func sandboxCases(chart string) []badCase {
	tmpl := func(body string) map[string]string {
		return map[string]string{"Chart.yaml": chart, "templates/cm.yaml": body}
	}
	kust := func(resource string) map[string]string {
		return map[string]string{"kustomization.yaml": "resources: [r.yaml]\n", "r.yaml": resource}
	}
	const memory = "render exceeded 512 MiB of memory"
	return []badCase{
		{name: "Kustomize resource of nested aliases (1 GB)", files: kust(aliasBomb(9)), want: []string{"r.yaml: its YAML aliases expand it to more than 16777216 bytes"}},
		{name: "Kustomize resource of a 5 MiB scalar aliased 99 times", files: kust(bigAlias(5<<20, 99)),
			want: []string{"r.yaml: its YAML aliases expand it to more than 16777216 bytes"}},
		{name: "Helm output of a 5 MiB scalar aliased 99 times", files: tmpl(`{{ $x := repeat 5242880 "x" }}apiVersion: v1
kind: ConfigMap
metadata: {name: big}
data:
  v0: &v {{ $x }}
{{- range until 99 }}
  v{{ add . 1 }}: *v
{{- end }}
`), want: []string{memory}}, // Helm expands them itself, sorting its manifests
		{name: "Helm output over the output limit", files: tmpl(`{{ range until 40 }}---
apiVersion: v1
kind: ConfigMap
metadata: {name: c{{ . }}}
data: {v: {{ repeat 400000 "x" }}}
{{ end }}`), args: []string{"--render-output", "8Mi"}, want: []string{"over the 8388608-byte output limit"}},
		{name: "Kustomize JSON patch copying a path into itself 17 times", files: copyPatches(17), want: []string{memory}},
		{name: "Helm until 300000000", files: tmpl("{{ until 300000000 | len }}"), want: []string{memory}},
		{name: "Helm repeat 200000000", files: tmpl(`{{ $x := repeat 200000000 "x" }}{{ $x | b64enc | len }}`), want: []string{memory}},
		{name: "Helm value that calls tpl on itself", files: map[string]string{
			"Chart.yaml": chart, "values.yaml": "x: '{{ tpl .Values.x . }}'\n", "templates/cm.yaml": "{{ tpl .Values.x . }}",
		}, want: []string{"render exceeded"}}, // the stack or the memory, whichever first
		{name: "Helm defines that include each other twice, 40 deep", files: tmpl(nestedDefines(40)),
			args: []string{"--render-timeout", "3s"}, want: []string{"render exceeded its 3s time limit"}},
		{name: "Helm render past its CPU limit", files: tmpl(nestedDefines(40)),
			args: []string{"--render-cpu", "2s"}, want: []string{"render exceeded 2s of CPU time"}},
		{name: "Helm values of nested aliases", files: map[string]string{
			"Chart.yaml": chart, "values.yaml": strings.TrimPrefix(aliasBomb(9), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n"),
			"templates/cm.yaml": configMap("a", ""),
		}, want: []string{"values.yaml: its YAML aliases expand it to more than 16777216 bytes"}},
		{name: "Rendered objects over --render-output", files: map[string]string{"big.yaml": bareConfigMap("big") + "data:\n  big: " + strings.Repeat("x", 2<<20) + "\n"},
			args: []string{"--render-output", "1Mi"}, want: []string{"over the 1 MiB limit"}},
	}
}

func bareConfigMap(name string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n"
}

// manyDocs is a YAML stream of n ConfigMaps.
func manyDocs(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString("---\n" + bareConfigMap("c"+strconv.Itoa(i)))
	}
	return b.String()
}

// variantCases are more of the same classes: aliases in every file a
// parser reads, deep nesting, recursion, object counts, limits by flag.
func variantCases(chart string) []badCase {
	tmpl := func(body string) map[string]string {
		return map[string]string{"Chart.yaml": chart, "templates/cm.yaml": body}
	}
	return []badCase{
		{name: "Kustomize kustomization.yaml of nested aliases", files: map[string]string{
			"kustomization.yaml": "resources: [r.yaml]\ncommonAnnotations:\n" + strings.TrimPrefix(aliasBomb(9), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n"),
			"r.yaml":             configMap("a", ""),
		}, want: []string{"kustomization.yaml: its YAML aliases expand it"}},
		{name: "Kustomize patch file of nested aliases", files: map[string]string{
			"kustomization.yaml": "resources: [r.yaml]\npatches:\n- path: p.yaml\n",
			"r.yaml":             configMap("bomb", ""),
			"p.yaml":             aliasBomb(9),
		}, want: []string{"p.yaml: its YAML aliases expand it"}},
		{name: "Helm value file (-f) of nested aliases", files: map[string]string{
			"Chart.yaml": chart, "templates/cm.yaml": configMap("a", ""),
			"bomb.yaml": strings.TrimPrefix(aliasBomb(9), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n"),
		}, args: []string{"-f", "bomb.yaml"}, want: []string{"bomb.yaml: its YAML aliases expand it"}},
		{name: "Helm Chart.yaml of nested aliases", files: map[string]string{
			"Chart.yaml":        chart + strings.Replace(strings.TrimPrefix(aliasBomb(9), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n"), "  a0:", "annotations:\n  a0:", 1),
			"templates/cm.yaml": configMap("a", ""),
		}, want: []string{"Chart.yaml: its YAML aliases expand it"}},
		{name: "YAML nested 100,000 levels deep", files: map[string]string{"deep.yaml": configMap("deep", "") + "  x: " + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + "\n"},
			want: []string{"deep.yaml"}},
		{name: "Helm define that includes itself", files: tmpl(`{{- define "loop" }}{{ include "loop" . }}{{ end }}{{ include "loop" . }}`),
			want: []string{"rendering template has a nested reference name: loop", "bytes cut"}},
		{name: "Helm values that tpl each other", files: map[string]string{
			"Chart.yaml": chart, "values.yaml": "a: '{{ tpl .Values.b . }}'\nb: '{{ tpl .Values.a . }}'\n", "templates/cm.yaml": "{{ tpl .Values.a . }}",
		}, want: []string{"render exceeded"}},
		{name: "Helm output over the object limit", files: tmpl("{{ range until 20000 }}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c{{ . }}}\n{{ end }}"),
			want: []string{"20000 objects is over the 10000-object limit"}},
		{name: "Plain file of 20,000 documents", files: map[string]string{"many.yaml": manyDocs(20000)},
			want: []string{"many.yaml: more than 10000 documents"}},
		{name: "Kustomize bases that include each other", files: map[string]string{
			"kustomization.yaml":   "resources: [a]\n",
			"a/kustomization.yaml": "resources: [../b]\n",
			"b/kustomization.yaml": "resources: [../a]\n",
		}, want: []string{"cycle"}},
		{name: "Helm until 100000000 under --render-memory 256Mi", files: tmpl("{{ until 100000000 | len }}"),
			args: []string{"--render-memory", "256Mi"}, want: []string{"render exceeded 256 MiB of memory"}},
		{name: "Helm defines 30 deep under --render-timeout 1s", files: tmpl(nestedDefines(30)),
			args: []string{"--render-timeout", "1s"}, want: []string{"render exceeded its 1s time limit"}},
		{name: "Kustomize generator output over --render-output", files: map[string]string{
			"kustomization.yaml": "configMapGenerator:\n- name: big\n  files: [big.txt]\n",
			"big.txt":            strings.Repeat("x", 2<<20),
		}, args: []string{"--render-output", "1Mi"}, want: []string{"over the 1 MiB limit"}},
	}
}

// aliasBomb is a ConfigMap of levels lists of ten aliases each to the one
// before: about 1 KB that expands to 10^levels strings.
func aliasBomb(levels int) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n  a0: &a0 [lol,lol,lol,lol,lol,lol,lol,lol,lol,lol]\n")
	for i := 1; i <= levels; i++ {
		prev := "*a" + strconv.Itoa(i-1)
		b.WriteString("  a" + strconv.Itoa(i) + ": &a" + strconv.Itoa(i) + " [" + strings.Repeat(prev+",", 9) + prev + "]\n")
	}
	return b.String()
}

// bigAlias is a ConfigMap whose one scalar of size bytes is aliased n times.
func bigAlias(size, n int) string {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  v0: &v " + strings.Repeat("x", size) + "\n")
	for i := 1; i <= n; i++ {
		b.WriteString("  v" + strconv.Itoa(i) + ": *v\n")
	}
	return b.String()
}

// copyPatches is an overlay whose JSON patch copies /data into itself n
// times: its size doubles with each operation.
func copyPatches(n int) map[string]string {
	var p strings.Builder
	for i := 0; i < n; i++ {
		p.WriteString("    - op: copy\n      from: /data\n      path: /data/d" + strconv.Itoa(i) + "\n")
	}
	return map[string]string{
		"kustomization.yaml": "resources: [cm.yaml]\npatches:\n- target: {kind: ConfigMap, name: seed}\n  patch: |-\n" + p.String(),
		"cm.yaml":            bareConfigMap("seed") + "data:\n  seed: " + strings.Repeat("x", 16<<10) + "\n",
	}
}

// nestedDefines is a chart template whose defines each include the one
// below twice: 2^depth includes.
func nestedDefines(depth int) string {
	var b strings.Builder
	for i := 0; i < depth; i++ {
		next := strconv.Itoa(i + 1)
		b.WriteString(`{{- define "d` + strconv.Itoa(i) + `" }}{{ include "d` + next + `" . }}{{ include "d` + next + `" . }}{{ end }}` + "\n")
	}
	b.WriteString(`{{- define "d` + strconv.Itoa(depth) + `" }}x{{ end }}` + "\n" + `{{ include "d0" . | len }}` + "\n")
	return b.String()
}
