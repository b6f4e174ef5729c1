// Package library rates custom resources with the health checks Argo CD
// ships for them: the Lua scripts of Argo CD's resource_customizations
// (github.com/argoproj/argo-cd/v3/resource_customizations, an embed.FS),
// run in gopher-lua with Argo CD's conventions (the object as the global
// obj; the script returns a table with status and message). A health.Rater
// consults it after the user's rules and before plumb's built-in kinds.
// docs/decisions.md says why plumb reuses this library instead of writing
// its own rules, and docs/health.md how far it agrees with its own cases.
package library
