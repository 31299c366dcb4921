// Package budget turns measurements into a verdict: absolute, relative and
// statistical budgets, each with measured value, limit, PASS/FAIL and a
// one-line explanation. A leaf: standard library, gonum and x/perf's
// statistics only.
package budget
