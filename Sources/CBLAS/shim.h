// OpenBLAS's CBLAS interface (Debian: libopenblas-dev). Only cblas_sgemm is used, by KernelsBLAS.
#include <cblas.h>
