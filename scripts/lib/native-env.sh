# Thread settings for ND4J's two native pools, shared by every launcher. Sourced, not run.
# libnd4j runs element-wise ops on OpenMP threads and OpenBLAS runs GEMMs on its own pthreads.
# OpenMP threads spin after each op by default and starve the BLAS threads of the cores: on this
# project's 2-core benchmark, passive waiting halves the step time (bench/README.md).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$(nproc)}"
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
