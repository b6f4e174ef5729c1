package library

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/argoproj/argo-cd/v3/resource_customizations"
	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/plumbhq/plumb/health"
)

// Budgets of one script run: wall time, and the Lua registry and call
// stack (a script that allocates or recurses without bound stops there).
const (
	scriptTimeout   = time.Second // Argo CD's own
	registryMaxSize = 256 * 1024
	callStackSize   = 256
)

// Library holds the compiled scripts, by group and kind. Entries whose
// directory names "_" are wildcards: "_.crossplane.io/_" is every kind of
// every group under crossplane.io, as in Argo CD.
type Library struct {
	exact  map[schema.GroupKind]*script
	wild   []*script
	files  fs.FS
	states sync.Pool // *lua.LState, libraries open
}

type script struct {
	dir         string // "cert-manager.io/Certificate"
	group, kind string // "" for a wildcard kind; group "*.crossplane.io"
	// The script is compiled when its kind is first rated: a CLI run or a
	// controller start pays only for the kinds it meets.
	once  sync.Once
	proto *lua.FunctionProto
	err   error
}

// program compiles the script once.
func (s *script) program(files fs.FS) (*lua.FunctionProto, error) {
	s.once.Do(func() {
		p := path.Join(s.dir, "health.lua")
		src, err := fs.ReadFile(files, p)
		if err != nil {
			s.err = err
			return
		}
		s.proto, s.err = compile(p, string(src))
	})
	return s.proto, s.err
}

// New indexes the health scripts of the embedded library.
func New() (*Library, error) {
	return load(resource_customizations.Embedded)
}

func load(files fs.FS) (*Library, error) {
	l := &Library{exact: map[schema.GroupKind]*script{}, files: files}
	matches, err := fs.Glob(files, "*/*/health.lua")
	if err != nil {
		return nil, err
	}
	for _, p := range matches {
		dir := path.Dir(p)
		group, kind := path.Dir(dir), path.Base(dir)
		s := &script{dir: dir, group: strings.Replace(group, "_", "*", 1), kind: kind}
		if kind == "_" {
			s.kind = ""
		}
		if strings.Contains(group, "_") || kind == "_" {
			l.wild = append(l.wild, s)
			continue
		}
		l.exact[schema.GroupKind{Group: group, Kind: kind}] = s
	}
	return l, nil
}

func compile(name, src string) (*lua.FunctionProto, error) {
	chunk, err := parse.Parse(strings.NewReader(src), name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	proto, err := lua.Compile(chunk, name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return proto, nil
}

// find returns the script for gk: an exact entry, else a wildcard.
func (l *Library) find(gk schema.GroupKind) *script {
	if s, ok := l.exact[gk]; ok {
		return s
	}
	for _, s := range l.wild {
		if (s.kind == "" || s.kind == gk.Kind) && strings.HasSuffix(gk.Group, strings.TrimPrefix(s.group, "*")) {
			return s
		}
	}
	return nil
}

// Rate implements health.Library: the library's script for u's kind, if
// it has one, rates u. A script error is u's Unknown, with the message.
func (l *Library) Rate(u *unstructured.Unstructured) (health.Result, bool) {
	if l == nil {
		return health.Result{}, false
	}
	s := l.find(u.GroupVersionKind().GroupKind())
	if s == nil {
		return health.Result{}, false
	}
	res := health.Result{Source: s.dir + " (library)"}
	proto, err := s.program(l.files)
	if err == nil {
		res.Status, res.Reason, err = l.run(proto, u.Object)
	}
	if err != nil {
		res.Status, res.Reason = health.Unknown, "health script: "+err.Error()
	}
	return res, true
}

// run runs a script on obj within the budgets. States are pooled (a new
// one costs more than most scripts): each run gets a fresh global table
// that falls back to the libraries, so no script sees another's globals.
// A state that failed is not reused.
func (l *Library) run(proto *lua.FunctionProto, obj map[string]any) (health.Status, string, error) {
	L, _ := l.states.Get().(*lua.LState)
	if L == nil {
		L = newState()
	}
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	st, msg, err := runIn(ctx, L, proto, obj)
	if err != nil {
		L.Close()
		return "", "", err
	}
	L.SetTop(0)
	l.states.Put(L)
	return st, msg, nil
}

// newState is a Lua state with the budgets and Argo CD's libraries.
func newState() *lua.LState {
	L := lua.NewState(lua.Options{SkipOpenLibs: true, RegistryMaxSize: registryMaxSize, CallStackSize: callStackSize})
	openLibs(L)
	return L
}

// runIn runs proto on obj in L until ctx ends, with a fresh global table
// that falls back to the libraries.
func runIn(ctx context.Context, L *lua.LState, proto *lua.FunctionProto, obj map[string]any) (st health.Status, msg string, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
		L.RemoveContext()
	}()
	env, meta := L.NewTable(), L.NewTable()
	meta.RawSetString("__index", L.G.Global)
	L.SetMetatable(env, meta)
	env.RawSetString("obj", toLua(L, obj))
	fn := L.NewFunctionFromProto(proto)
	fn.Env = env
	L.SetContext(ctx)
	L.Push(fn)
	if err := L.PCall(0, 1, nil); err != nil {
		return "", "", err
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("returned %s, not a table", L.Get(-1).Type())
	}
	st = health.Status(lua.LVAsString(ret.RawGetString("status")))
	switch st {
	case health.Healthy, health.Progressing, health.Degraded, health.Suspended, health.Missing, health.Unknown:
	default:
		return "", "", fmt.Errorf("returned status %q", st)
	}
	return st, lua.LVAsString(ret.RawGetString("message")), nil
}
