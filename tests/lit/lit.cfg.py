# -*- Python -*- lit configuration for attnjit's FileCheck tests.
import os
import shutil
import lit.formats

config.name = "attnjit"
config.test_format = lit.formats.ShTest(not shutil.which("bash"))
config.suffixes = [".mlir", ".test"]
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py.in", "Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.attnjit_obj_root)
config.environment["PATH"] = os.pathsep.join(
    [config.attnjit_tools_dir, config.llvm_tools_dir, config.environment.get("PATH", "")])
# Keep tool runs hermetic: no user cache, no dumps.
config.environment["ATTNJIT_CACHE_DIR"] = os.path.join(config.attnjit_obj_root, "lit-cache")
config.environment.pop("ATTNJIT_DUMP_DIR", None)
if shutil.which("ptxas") or os.path.exists("/usr/local/cuda/bin/ptxas"):
    config.available_features.add("ptxas")
