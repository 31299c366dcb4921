// Package budget turns measurements into a verdict: absolute, relative and
// statistical budgets (the copy, not the call, as the statistical unit),
// each with measured value, limit, PASS/FAIL and a one-line explanation. A
// leaf: standard library, gonum and go-moremath's statistics only.
package budget
