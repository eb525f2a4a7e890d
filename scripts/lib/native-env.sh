# Load-time settings of ND4J's native libraries, shared by every launcher. Sourced, not run.
# How many threads each task computes with is decided at run time, in one place:
# io.sparkformer.model.NativeThreads (the BLAS's thread count is the only one that changes any
# bit of a step; tasks sharing a JVM in local mode each get their share of the cores). Here:
# - OMP_NUM_THREADS is the most any task may get: libnd4j's pool can shrink at run time, not grow;
# - passive waiting: spinning OpenMP threads starve the BLAS threads (it halved the step time);
# - MKL (on Intel CPUs, see Nd4jRuntime): conditional numerical reproducibility with a fixed
#   thread count, so its GEMMs give the same bits with any number of threads (about 1% of a step).
# OpenBLAS's kernels are named in the JVM itself (io.sparkformer.model.OpenBlasKernels, from the
# CPU's flags: the bundled OpenBLAS takes a Zen 4 for a Zen and an Emerald Rapids for a Prescott).
# Values already in the environment win.
_sparkformer_cores=$(nproc 2>/dev/null || echo 2)
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$_sparkformer_cores}"
export MKL_NUM_THREADS="${MKL_NUM_THREADS:-$_sparkformer_cores}"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
export MKL_DYNAMIC="${MKL_DYNAMIC:-FALSE}"
export MKL_CBWR="${MKL_CBWR:-AUTO,STRICT}"
unset _sparkformer_cores
