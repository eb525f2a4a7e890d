# Shared by the launchers: build what is missing and print a module's class path.
# Sourced, not run.

sparkformer_root() { cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd; }

# sparkformer_own_classes ROOT < CLASSPATH: the classpath with the project's own module jars (resolved
# from ~/.m2, which every clone's build overwrites) replaced by this tree's compiled classes, so a
# run uses the code of the tree it was started from, whatever another clone installs meanwhile.
sparkformer_own_classes() {
  tr ':' '\n' | sed -E "s#^.*/io/sparkformer/sparkformer-(model|worker)/[^/]+/sparkformer-[a-z]+-[^/]*\.jar\$#$1/\\1/target/classes#" | paste -sd:
}

# sparkformer_test_classpath MODULE: the module's compiled main and test classes and its test-scope
# dependencies. Builds the project (tests skipped) when the classes are missing or older than the sources.
sparkformer_test_classpath() {
  local root module=$1
  root=$(sparkformer_root)
  local classes="$root/$module/target/classes" tests="$root/$module/target/test-classes"
  local cpfile="$root/$module/target/test-classpath.txt"
  if [ ! -d "$tests" ] || [ ! -f "$cpfile" ] \
     || [ -n "$(find "$root"/*/src "$root"/pom.xml "$root"/*/pom.xml -newer "$cpfile" -print -quit 2>/dev/null)" ]; then
    echo "building $module (first run or sources changed)..." >&2
    (cd "$root" && mvn -q -B -ntp install -DskipTests -DskipJobJar -pl "$module" -am >&2) || return 1
    (cd "$root" && mvn -q -B -ntp -pl "$module" dependency:build-classpath -Dmdep.includeScope=test \
       -Dmdep.outputFile="$cpfile" >&2) || return 1
    touch "$cpfile"  # the plugin leaves an unchanged file untouched
  fi
  echo "$classes:$tests:$(sparkformer_own_classes "$root" < "$cpfile")"
}

# sparkformer_runtime_classpath MODULE: the module's classes and every dependency, Spark (provided)
# included, for running locally. Builds when classes are missing or older than the sources.
sparkformer_runtime_classpath() {
  local root module=$1
  root=$(sparkformer_root)
  local cpfile="$root/$module/target/runtime-classpath.txt"
  if [ ! -f "$cpfile" ] || [ ! -d "$root/$module/target/classes" ] \
     || [ -n "$(find "$root"/*/src "$root"/pom.xml "$root"/*/pom.xml -newer "$cpfile" -print -quit 2>/dev/null)" ]; then
    echo "building the project (first run or sources changed)..." >&2
    (cd "$root" && mvn -q -B -ntp install -DskipTests -DskipJobJar >&2) || return 1
    (cd "$root" && mvn -q -B -ntp -pl "$module" dependency:build-classpath -Dmdep.includeScope=test \
       -Dmdep.outputFile="$cpfile" >&2) || return 1
    touch "$cpfile"
  fi
  echo "$root/$module/target/classes:$(sparkformer_own_classes "$root" < "$cpfile")"
}

# The driver JVM's heap defaults, put before JAVA_OPTS (which may override them). The heap holds
# little that lives while a model trains (under 0.1 GB: the models and the exchange's blocks are
# native memory), but G1 keeps every region it grew to at start-up (corpus, tokenizer, Spark):
# 0.65-0.7 GB resident for GPT-2 small. A collection after 5 s without one gives the idle regions
# back (0.26 GB resident). Executors get the same through ExecutorSettings.
sparkformer_heap_options() {
  echo "-XX:G1PeriodicGCInterval=5000"
}

# The JVM flags Spark's launcher adds on Java 17, as the build writes them (pom.xml spark.jvm.options).
sparkformer_spark_jvm_options() {
  local root
  root=$(sparkformer_root)
  if [ ! -f "$root/driver/target/spark-jvm-options.txt" ]; then
    (cd "$root" && mvn -q -B -ntp -N install >&2 && mvn -q -B -ntp -pl driver generate-resources >&2) || return 1
  fi
  cat "$root/driver/target/spark-jvm-options.txt"
}

# sparkformer_job_jar: the job jar spark-submit runs (driver, Spark and Hadoop left out). Builds it
# when missing or older than the sources.
sparkformer_job_jar() {
  local root jar
  root=$(sparkformer_root)
  jar="$root/driver/target/sparkformer-driver-0.1.0-SNAPSHOT-job.jar"
  if [ ! -f "$jar" ] || [ -n "$(find "$root"/*/src "$root"/pom.xml "$root"/*/pom.xml -newer "$jar" -print -quit 2>/dev/null)" ]; then
    echo "building the job jar (first use or sources changed; about a minute)..." >&2
    (cd "$root" && mvn -q -B -ntp -Pjob-jar -pl driver -am package -DskipTests >&2) || return 1
  fi
  echo "$jar"
}

# sparkformer_spark_home: a Spark distribution's layout (jars/) made of the Spark and Hadoop
# client jars the driver is built against; what SparkSubmit and the standalone daemons run on.
sparkformer_spark_home() {
  local root home
  root=$(sparkformer_root)
  home="$root/driver/target/spark-home"
  local pom="$root/scripts/cluster/spark-distribution.pom.xml"
  if [ ! -d "$home/jars" ] || [ "$pom" -nt "$home/jars" ] || [ "$root/pom.xml" -nt "$home/jars" ]; then
    rm -rf "$home/jars"
    (cd "$root" && mvn -q -B -ntp -f "$pom" dependency:copy-dependencies -DoutputDirectory="$home/jars" >&2) || return 1
    touch "$home/jars"
  fi
  echo "$home"
}
