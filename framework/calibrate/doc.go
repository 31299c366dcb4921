// Package calibrate measures a cluster's noise: the same phase repeated
// without a reboot (A/A), the spread of each metric over the repeats, how
// often each budget of a scenario would fail on that noise alone (its
// false-alarm rate, with an upper bound), and budgets the noise would leave
// alone. It judges with framework/budget, so a calibration sees exactly what
// a run's verdict sees. A leaf beside budget: it imports budget and scenario
// and never ginkgo, gomega, e2e/, cmd/ or the runner.
package calibrate
