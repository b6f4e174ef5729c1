package library

import (
	"time"

	lua "github.com/yuin/gopher-lua"
)

// openLibs opens what Argo CD's scripts use: base, table, string, math
// and package, and an os library of time functions only (no files, no
// processes, no environment), as Argo CD's safe os.
func openLibs(L *lua.LState) {
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString}, {lua.MathLibName, lua.OpenMath},
	} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	for _, unsafe := range []string{"dofile", "loadfile", "load", "loadstring"} {
		L.SetGlobal(unsafe, lua.LNil) // no code from outside the script
	}
	safeOS := func(L *lua.LState) int {
		L.Push(L.SetFuncs(L.NewTable(), map[string]lua.LGFunction{
			"time":  func(L *lua.LState) int { L.Push(lua.LNumber(time.Now().Unix())); return 1 },
			"clock": func(L *lua.LState) int { L.Push(lua.LNumber(float64(time.Now().UnixNano()) / 1e9)); return 1 },
		}))
		return 1
	}
	L.PreloadModule(lua.OsLibName, safeOS)
	safeOS(L)
	L.SetGlobal(lua.OsLibName, L.Get(-1))
	L.Pop(1)
}

// toLua converts a decoded JSON value to Lua: objects to tables, arrays
// to 1-based tables, numbers to numbers.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case int64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case map[string]any:
		t := L.CreateTable(0, len(v))
		for k, e := range v {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	case []any:
		t := L.CreateTable(len(v), 0)
		for _, e := range v {
			t.Append(toLua(L, e))
		}
		return t
	}
	return lua.LNil
}
