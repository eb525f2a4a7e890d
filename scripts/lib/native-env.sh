# Thread settings for ND4J's native pools, shared by every launcher. Sourced, not run.
# libnd4j runs element-wise ops on OpenMP threads; GEMMs run on the BLAS's own threads (MKL on
# Intel CPUs, else OpenBLAS; see Nd4jRuntime). Measured on the project's benchmark (README):
# - OpenMP threads spin after each op by default and starve the BLAS threads: passive waiting
#   halved the step time;
# - with MKL, one OpenMP thread for the small element-wise ops and MKL's threads for the GEMMs
#   beat two OpenMP threads by a fifth (MKL ignores OMP_NUM_THREADS once ND4J has loaded it).
# - MKL picks code paths by memory alignment and adjusts its thread count to the load, so two
#   identical rounds could differ in the last bit; conditional numerical reproducibility
#   (MKL_CBWR=AUTO,STRICT) with a fixed thread count (MKL_DYNAMIC=FALSE) makes them bit-equal,
#   which resuming and Spark's task reruns rely on, for about 1% of step time.
# With OpenBLAS, ND4J ties the BLAS threads to OMP_NUM_THREADS, so both get every core.
# Values already in the environment win.
_sparkformer_cores=$(nproc 2>/dev/null || echo 2)
if grep -q GenuineIntel /proc/cpuinfo 2>/dev/null && [ "${SPARKFORMER_BLAS:-mkl}" != openblas ]; then
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
  export MKL_NUM_THREADS="${MKL_NUM_THREADS:-$_sparkformer_cores}"
  export MKL_DYNAMIC="${MKL_DYNAMIC:-FALSE}"
  export MKL_CBWR="${MKL_CBWR:-AUTO,STRICT}"
else
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$_sparkformer_cores}"
fi
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
unset _sparkformer_cores
