import CBLAS
import Kernels
