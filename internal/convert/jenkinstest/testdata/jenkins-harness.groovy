// jenkins-harness.groovy runs the part of Jenkins' declarative pipeline DSL
// that `slipway convert jenkins` writes. It is a test double, NOT Jenkins:
// no containers (docker agents run on this machine), no plugins, no
// sandbox, and parallel branches run one after the other. sh steps run
// their script file with its own #! interpreter, as Jenkins does.
//
// It follows Jenkins' order within a stage: when (before the stage's
// environment is set), input, agent, environment, steps. An agent gives
// the stage the node's one workspace (Jenkins reuses a node's workspace
// for the stages that follow each other), with the default checkout unless
// the pipeline skips it; `agent any` at the top level gives the whole build
// one. An environment value is a string ("null" for null), and an empty one
// unsets the variable, as Jenkins' EnvVars does.
//
//   groovy jenkins-harness.groovy check FILE...             compile each file
//   groovy jenkins-harness.groovy run FILE WORKSPACE [SCM]  run the pipeline
//
// run takes BRANCH_NAME, TAG_NAME, CHANGE_ID, CHANGE_BRANCH, CHANGE_TARGET,
// CHANGE_TITLE, GIT_COMMIT and BUILD_URL from its own environment, as
// Jenkins sets them, HARNESS_PARAM_<NAME> as the value of parameter NAME,
// and HARNESS_APPROVE: a comma-separated list of the stages whose input is
// approved (any other input aborts the build, as a click on Abort does).
// `checkout scm` copies the folder SCM (default: nothing) into the current
// folder. It prints one line per event: "@@ {json}" with event = stage,
// skip, sh, archive, junit, stash, unstash, lock, input, end, build, or,
// for docker.image(...), pull, withRun, stop and inside.

import groovy.json.JsonOutput
import java.util.concurrent.TimeUnit

class StepFailure extends RuntimeException {
    StepFailure(String msg) { super(msg) }
}

// Aborted is an input answered with Abort: the stage and the build end
// aborted.
class Aborted extends RuntimeException {
    Aborted(String msg) { super(msg) }
}

class Results {
    static List<String> order = ['SUCCESS', 'UNSTABLE', 'FAILURE', 'NOT_BUILT', 'ABORTED']
    static String worse(String a, String b) { order.indexOf(a) >= order.indexOf(b) ? a : b }
}

class CurrentBuild {
    String result = 'SUCCESS'
    String getCurrentResult() { result }
    boolean resultIsBetterOrEqualTo(String r) { Results.order.indexOf(result) <= Results.order.indexOf(r) }
    boolean resultIsWorseOrEqualTo(String r) { Results.order.indexOf(result) >= Results.order.indexOf(r) }
}

// StageSpec is one stage(...) as written.
class StageSpec {
    String name
    String image
    boolean agent // the stage allocates an agent (any or docker)
    List<String> locks = []
    Closure environment, when, input, steps, post
    List<StageSpec> parallel
}

// OptionsDsl records the options the harness acts on.
class OptionsDsl {
    boolean skipDefaultCheckout
    List<String> locks = []
    void skipDefaultCheckout() { skipDefaultCheckout = true }
    void skipDefaultCheckout(boolean b) { skipDefaultCheckout = b }
    void disableConcurrentBuilds(Map args) {}
    void disableConcurrentBuilds() {}
    void lock(Map args) { locks << args.resource }
    void lock(String resource) { locks << resource }
}

class AgentDsl {
    String image
    def getAny() { 'any' }
    def getNone() { 'none' }
    void docker(Closure c) { c.delegate = this; c.resolveStrategy = Closure.DELEGATE_FIRST; c() }
    void image(String s) { image = s }
    void reuseNode(boolean b) {}
    void args(String s) {}
    void alwaysPull(boolean b) {}
    void label(String s) {}
}

// StagesDsl collects stage(...)s and refuses what Jenkins' validation
// refuses: a stage name used twice in the pipeline, parallel in a branch
// of parallel, a stage with both steps and parallel.
class StagesDsl {
    static Set<String> names = []
    boolean inParallel
    List<StageSpec> stages = []
    void stage(String name, Closure body) {
        if (!names.add(name)) {
            throw new IllegalStateException("Duplicate stage name: \"${name}\"")
        }
        def dsl = new StageDsl(spec: new StageSpec(name: name), inParallel: inParallel)
        Harness.dsl(body, dsl)
        if (dsl.spec.parallel != null && dsl.spec.steps != null) {
            throw new IllegalStateException("stage ${name}: only one of steps and parallel is allowed")
        }
        if (dsl.spec.parallel == null && dsl.spec.steps == null) {
            throw new IllegalStateException("stage ${name}: no steps")
        }
        stages << dsl.spec
    }
}

class StageDsl {
    StageSpec spec
    boolean inParallel
    void agent(Object a) {
        if (a instanceof Closure) {
            def dsl = new AgentDsl()
            Harness.dsl(a, dsl)
            spec.image = dsl.image
        }
        spec.agent = a != 'none'
    }
    def getAny() { 'any' }
    def getNone() { 'none' }
    void environment(Closure c) { spec.environment = c }
    void when(Closure c) { spec.when = c }
    void input(Closure c) { spec.input = c }
    void options(Closure c) {
        def dsl = new OptionsDsl()
        Harness.dsl(c, dsl)
        spec.locks = dsl.locks
    }
    void steps(Closure c) { spec.steps = c }
    void post(Closure c) { spec.post = c }
    void parallel(Closure c) {
        if (inParallel) {
            throw new IllegalStateException("stage ${spec.name}: parallel inside a branch of parallel")
        }
        def dsl = new StagesDsl(inParallel: true)
        Harness.dsl(c, dsl)
        spec.parallel = dsl.stages
    }
}

// ParametersDsl takes string parameters; HARNESS_PARAM_<NAME> stands for a
// value given when the build is started.
class ParametersDsl {
    Map<String, String> values = [:]
    void string(Map args) { values[args.name] = System.getenv('HARNESS_PARAM_' + args.name) ?: args.defaultValue }
}

class PipelineDsl {
    Closure environment
    Map<String, String> parameters = [:]
    List<StageSpec> stages = []
    String agent
    boolean skipDefaultCheckout
    void agent(Object a) { agent = a instanceof Closure ? 'docker' : a }
    void parameters(Closure c) {
        def dsl = new ParametersDsl()
        Harness.dsl(c, dsl)
        parameters = dsl.values
    }
    def getAny() { 'any' }
    def getNone() { 'none' }
    void options(Closure c) {
        def dsl = new OptionsDsl()
        Harness.dsl(c, dsl)
        skipDefaultCheckout = dsl.skipDefaultCheckout
    }
    void environment(Closure c) { environment = c }
    void stages(Closure c) {
        def dsl = new StagesDsl()
        Harness.dsl(c, dsl)
        stages = dsl.stages
    }
}

// EnvDsl takes NAME = value assignments in definition order. Jenkins
// resolves a block's references to its own names lazily, in any order; the
// Jenkinsfiles under test define a name before its uses, where both agree.
// Jenkins turns each value into a string ("null" for null) and EnvVars
// removes a variable set to "".
class EnvDsl {
    Map<String, String> env
    void setProperty(String name, Object value) {
        def s = "${value}".toString()
        if (s.isEmpty()) {
            env.remove(name)
        } else {
            env[name] = s
        }
    }
}

// WhenDsl evaluates each condition as it is called; all must hold.
class WhenDsl {
    Harness h
    List<Boolean> results = []
    void beforeInput(boolean b) {}
    void beforeAgent(boolean b) {}
    void branch(String name) { results << (h.env.BRANCH_NAME == name) }
    void branch(Map args) {
        assert args.comparator == 'EQUALS': "only the EQUALS comparator is implemented"
        results << (h.env.BRANCH_NAME == args.pattern)
    }
    void buildingTag() { results << (h.env.TAG_NAME != null) }
    void changeRequest() { results << (h.env.CHANGE_ID != null) }
    void expression(Closure c) { results << (c() as boolean) }
    private List<Boolean> inner(Closure c) {
        def dsl = new WhenDsl(h: h)
        Harness.dsl(c, dsl)
        dsl.results
    }
    void not(Closure c) { results << !inner(c).every() }
    void anyOf(Closure c) { results << inner(c).any() }
    void allOf(Closure c) { results << inner(c).every() }
}

class InputDsl {
    String message
    void message(String m) { message = m }
    void ok(String s) {}
}

class PostDsl {
    Map<String, Closure> conditions = [:]
    def methodMissing(String name, args) { conditions[name] = args[0] }
}

// DockerImage is the Docker Pipeline plugin's docker.image(name): its
// sidecars (withRun) and containers for steps (inside) are events here,
// and the steps run on this machine.
class DockerImage {
    Harness h
    StepsDsl steps
    String name
    static int started = 0

    void pull() { h.event(event: 'pull', stage: h.stage, image: name) }
    def withRun(String args, Closure c) { withRun(args, '', c) }
    def withRun(String args, String command, Closure c) {
        def container = [id: "container-${++started}".toString()]
        h.event(event: 'withRun', stage: h.stage, image: name, args: args, command: command, name: container.id)
        try {
            c.delegate = steps
            c.resolveStrategy = Closure.DELEGATE_FIRST
            c.call(container)
        } finally {
            h.event(event: 'stop', stage: h.stage, image: name, name: container.id)
        }
    }
    def inside(String args, Closure c) {
        h.event(event: 'inside', stage: h.stage, image: name, args: args)
        Harness.dsl(c, steps)
    }
}

class DockerDsl {
    Harness h
    StepsDsl steps
    DockerImage image(String name) { new DockerImage(h: h, steps: steps, name: name) }
}

class StepsDsl {
    Harness h
    String stageResult = 'SUCCESS'

    DockerDsl getDocker() { new DockerDsl(h: h, steps: this) }

    File cwd() {
        if (h.cwd == null) {
            throw new StepFailure("Required context class hudson.FilePath is missing (no agent)")
        }
        h.cwd
    }
    void dir(String path, Closure c) {
        def saved = h.cwd
        h.cwd = new File(path).isAbsolute() ? new File(path) : new File(cwd(), path)
        h.cwd.mkdirs()
        try {
            Harness.dsl(c, this)
        } finally {
            h.cwd = saved
        }
    }
    void deleteDir() { cwd().deleteDir() }
    def getScm() { 'scm' }
    void checkout(Object scm) { h.checkout(cwd()) }
    void stash(Map args) {
        def root = cwd()
        def files = h.matching(root, args.includes ?: '**', args.excludes)
        if (files.isEmpty() && !args.allowEmpty) {
            throw new StepFailure("No files included in stash ‘${args.name}’")
        }
        h.stashes[args.name] = files.collectEntries { [(it): new File(root, it)] }.collectEntries { rel, f -> [(rel): [f.bytes, f.canExecute()]] }
        h.event(event: 'stash', stage: h.stage, name: args.name, files: files)
    }
    void unstash(String name) {
        def files = h.stashes[name]
        if (files == null) {
            throw new StepFailure("No such saved stash ‘${name}’")
        }
        files.each { rel, content ->
            def f = new File(cwd(), rel)
            f.parentFile.mkdirs()
            f.bytes = content[0]
            f.setExecutable(content[1]) // stash keeps file modes
        }
        h.event(event: 'unstash', stage: h.stage, name: name, files: files.keySet().sort())
    }
    void input(Map args) {
        if (!h.approved.contains(h.stage)) {
            h.event(event: 'input', stage: h.stage, message: args.message, approved: false)
            throw new Aborted("input ${args.message}: aborted")
        }
        h.event(event: 'input', stage: h.stage, message: args.message, approved: true)
    }
    void lock(Map args, Closure c) { lock(args.resource as String, c) }
    void lock(String resource, Closure c) {
        h.event(event: 'lock', stage: h.stage, name: resource)
        Harness.dsl(c, this)
    }

    void sh(String script) { sh(script: script) }
    def sh(Map args) {
        def file = File.createTempFile('harness-sh-', '.sh')
        file.text = args.script
        file.setExecutable(true)
        def pb = new ProcessBuilder([file.path]).directory(cwd()).redirectErrorStream(true)
        pb.environment().clear()
        h.env.each { k, v -> if (v != null) pb.environment()[k] = v }
        def proc = pb.start()
        def out = new ByteArrayOutputStream()
        def reader = Thread.start { out << proc.inputStream }
        boolean done = h.timeoutSeconds > 0 ? proc.waitFor(h.timeoutSeconds, TimeUnit.SECONDS) : (proc.waitFor() || true)
        if (!done) {
            // Jenkins kills the whole process tree, not only the shell.
            proc.toHandle().descendants().toArray().each { it.destroyForcibly() }
            proc.destroyForcibly()
            proc.waitFor()
        }
        reader.join()
        file.delete()
        int code = done ? proc.exitValue() : -1
        h.event(event: 'sh', stage: h.stage, label: args.label, exitCode: code, output: out.toString('UTF-8'))
        if (!done) {
            throw new StepFailure("Timeout has been exceeded")
        }
        if (args.returnStatus) {
            return code
        }
        if (code != 0) {
            throw new StepFailure("script returned exit code ${code}")
        }
    }
    void echo(String s) { h.event(event: 'echo', stage: h.stage, text: s) }
    void withEnv(List vars, Closure c) {
        def saved = h.env
        h.env = new LinkedHashMap(saved)
        vars.each { kv ->
            def s = kv.toString()
            h.env[s.substring(0, s.indexOf('='))] = s.substring(s.indexOf('=') + 1)
        }
        try {
            Harness.dsl(c, this)
        } finally {
            h.env = saved
        }
    }
    void error(String s) { throw new StepFailure(s) }
    void script(Closure c) { Harness.dsl(c, this) }
    void catchError(Map args, Closure c) {
        try {
            Harness.dsl(c, this)
        } catch (StepFailure e) {
            h.build.result = Results.worse(h.build.result, args.buildResult ?: 'FAILURE')
            stageResult = Results.worse(stageResult, args.stageResult ?: 'FAILURE')
        }
    }
    void retry(int count, Closure c) {
        for (int i = 1; ; i++) {
            try {
                Harness.dsl(c, this)
                return
            } catch (StepFailure e) {
                if (i >= count) {
                    throw e
                }
            }
        }
    }
    void timeout(Map args, Closure c) {
        assert args.unit == 'SECONDS'
        def saved = h.timeoutSeconds
        h.timeoutSeconds = args.time as long
        try {
            Harness.dsl(c, this)
        } finally {
            h.timeoutSeconds = saved
        }
    }
    void sleep(Map args) {
        assert args.unit == 'SECONDS'
        Thread.sleep((args.time as long) * 1000)
    }
    void archiveArtifacts(Map args) { collect('archive', args.artifacts, args.excludes, args.allowEmptyArchive) }
    void junit(Map args) { collect('junit', args.testResults, null, args.allowEmptyResults) }

    private void collect(String kind, String includes, String excludes, boolean allowEmpty) {
        def files = h.matching(cwd(), includes, excludes)
        h.event(event: kind, stage: h.stage, files: files)
        if (files.isEmpty() && !allowEmpty) {
            throw new StepFailure("${kind}: no files match ${includes}")
        }
    }
}

class Harness {
    File workspace
    File scm
    File cwd // the current folder of steps; null outside an agent
    Map<String, Map<String, List>> stashes = [:] // path: [bytes, executable]
    boolean skipDefaultCheckout
    Map<String, String> env
    Binding binding
    CurrentBuild build = new CurrentBuild()
    String stage
    long timeoutSeconds = 0
    boolean stopped = false
    List<String> approved

    static void dsl(Closure c, Object delegate) {
        c.delegate = delegate
        c.resolveStrategy = Closure.DELEGATE_FIRST
        c.call()
    }

    // antPatterns turns "a/, b/**/*.xml" into regular expressions.
    static List<String> antPatterns(String list) {
        if (!list) {
            return []
        }
        list.split(',').collect { it.trim() }.findAll { it }.collect { p ->
            if (p.endsWith('/')) {
                p += '**'
            }
            def re = new StringBuilder()
            for (int i = 0; i < p.length(); i++) {
                def ch = p.charAt(i)
                if (p.startsWith('**/', i)) {
                    re << '(?:.*/)?'
                    i += 2
                } else if (p.startsWith('**', i)) {
                    re << '.*'
                    i += 1
                } else if (ch == '*') {
                    re << '[^/]*'
                } else if (ch == '?') {
                    re << '[^/]'
                } else {
                    re << java.util.regex.Pattern.quote(ch as String)
                }
            }
            re.toString()
        }
    }

    void event(Map e) { println '@@ ' + JsonOutput.toJson(e) }

    // matching lists the files under root that Ant patterns select.
    List<String> matching(File root, String includes, String excludes) {
        def inc = antPatterns(includes)
        def exc = antPatterns(excludes)
        def files = []
        if (!root.exists()) {
            return files
        }
        def base = root.toPath()
        root.eachFileRecurse(groovy.io.FileType.FILES) { f ->
            def rel = base.relativize(f.toPath()).toString()
            if (inc.any { rel ==~ it } && !exc.any { rel ==~ it }) {
                files << rel
            }
        }
        files.sort()
    }

    // checkout copies the SCM folder into dir, over what is there, as a
    // checkout leaves untracked files.
    void checkout(File dir) {
        dir.mkdirs()
        if (scm == null) {
            return
        }
        def base = scm.toPath()
        scm.eachFileRecurse(groovy.io.FileType.FILES) { f ->
            def to = new File(dir, base.relativize(f.toPath()).toString())
            to.parentFile.mkdirs()
            to.bytes = f.bytes
            to.setExecutable(f.canExecute())
        }
    }

    // withEnv evaluates an environment block over the current variables.
    void applyEnvironment(Closure c) {
        if (c == null) {
            return
        }
        env = new LinkedHashMap(env)
        binding.setVariable('env', env)
        Harness.dsl(c, new EnvDsl(env: env))
    }

    void run(PipelineDsl p) {
        env.putAll(p.parameters) // Jenkins sets parameters as environment variables
        skipDefaultCheckout = p.skipDefaultCheckout
        if (p.agent != 'none') {
            enterAgent()
        }
        applyEnvironment(p.environment)
        p.stages.each { runStage(it) }
        event(event: 'build', result: build.result)
    }

    // runStage runs one stage and reports whether it failed. The branches
    // of a parallel stage are entered with their when conditions already
    // evaluated, since Jenkins starts them together, and a failed branch
    // stops the build only once all branches are done.
    boolean runStage(StageSpec s, Boolean entered = null, boolean branch = false) {
        if (stopped) {
            event(event: 'skip', stage: s.name, reason: 'earlier failure')
            return false
        }
        def savedEnv = env
        def savedCwd = cwd
        try {
            if (!(entered != null ? entered : whenHolds(s))) {
                event(event: 'skip', stage: s.name, reason: 'when')
                return false
            }
            s.locks.each { event(event: 'lock', stage: s.name, name: it) }
            if (s.input != null) {
                def in_ = new InputDsl()
                Harness.dsl(s.input, in_)
                if (!approved.contains(s.name)) {
                    event(event: 'skip', stage: s.name, reason: 'input', message: in_.message)
                    build.result = Results.worse(build.result, 'ABORTED')
                    stopped = true
                    return false
                }
            }
            if (s.agent) {
                enterAgent()
            }
            applyEnvironment(s.environment)
            if (s.parallel != null) {
                def decisions = s.parallel.collect { whenHolds(it) }
                boolean failed = false
                s.parallel.eachWithIndex { child, i ->
                    if (runStage(child, decisions[i], true)) {
                        failed = true
                    }
                }
                if (failed) {
                    stopped = true
                }
                return failed
            }
            boolean failed = runSteps(s)
            if (failed && !branch) {
                stopped = true
            }
            return failed
        } finally {
            env = savedEnv
            cwd = savedCwd
            binding.setVariable('env', env)
        }
    }

    // enterAgent gives the steps that follow the node's workspace, checked
    // out unless the pipeline skips the default checkout.
    void enterAgent() {
        cwd = workspace
        env = new LinkedHashMap(env)
        env.WORKSPACE = workspace.path
        binding.setVariable('env', env)
        if (!skipDefaultCheckout) {
            checkout(workspace)
        }
    }

    // whenHolds evaluates the stage's when conditions in the current env.
    boolean whenHolds(StageSpec s) {
        if (s.when == null) {
            return true
        }
        def w = new WhenDsl(h: this)
        Harness.dsl(s.when, w)
        w.results.every()
    }


    boolean runSteps(StageSpec s) {
        stage = s.name
        event(event: 'stage', stage: s.name, image: s.image)
        def steps = new StepsDsl(h: this)
        boolean failed = false
        try {
            Harness.dsl(s.steps, steps)
        } catch (StepFailure e) {
            failed = true
            steps.stageResult = 'FAILURE'
            build.result = Results.worse(build.result, 'FAILURE')
        } catch (Aborted e) {
            failed = true
            stopped = true
            steps.stageResult = 'ABORTED'
            build.result = Results.worse(build.result, 'ABORTED')
        }
        if (s.post != null) {
            def post = new PostDsl()
            Harness.dsl(s.post, post)
            def r = steps.stageResult
            def runs = [always: true, aborted: r == 'ABORTED', failure: r == 'FAILURE', success: r == 'SUCCESS',
                        unstable: r == 'UNSTABLE', unsuccessful: r != 'SUCCESS', cleanup: true]
            ['always', 'aborted', 'failure', 'success', 'unstable', 'unsuccessful', 'cleanup'].each { cond ->
                if (post.conditions[cond] != null && runs[cond]) {
                    try {
                        Harness.dsl(post.conditions[cond], new StepsDsl(h: this, stageResult: r))
                    } catch (StepFailure e) {
                        failed = true
                        steps.stageResult = 'FAILURE'
                        build.result = Results.worse(build.result, 'FAILURE')
                    }
                }
            }
        }
        event(event: 'end', stage: s.name, result: steps.stageResult)
        return failed
    }
}

def usage = { System.err.println('usage: jenkins-harness.groovy check FILE... | run FILE WORKSPACE [SCM]'); System.exit(2) }
if (args.length < 2) {
    usage()
}
switch (args[0]) {
    case 'check':
        int bad = 0
        args[1..-1].each { path ->
            try {
                new GroovyShell().parse(new File(path))
            } catch (org.codehaus.groovy.control.CompilationFailedException e) {
                System.err.println("${path}: ${e.message}")
                bad++
            }
        }
        System.exit(bad == 0 ? 0 : 1)
        break
    case 'run':
        if (args.length != 3 && args.length != 4) {
            usage()
        }
        def workspace = new File(args[2]).canonicalFile
        def env = new LinkedHashMap<String, String>()
        ['PATH', 'HOME', 'LANG', 'BRANCH_NAME', 'TAG_NAME', 'CHANGE_ID', 'CHANGE_BRANCH', 'CHANGE_TARGET', 'CHANGE_TITLE',
         'GIT_COMMIT', 'BUILD_NUMBER', 'BUILD_URL'].each { k ->
            if (System.getenv(k) != null) {
                env[k] = System.getenv(k)
            }
        }
        def binding = new Binding()
        def h = new Harness(workspace: workspace, env: env, binding: binding, scm: args.length == 4 ? new File(args[3]) : null,
                approved: (System.getenv('HARNESS_APPROVE') ?: '').split(',').findAll { it } as List)
        binding.setVariable('env', env)
        binding.setVariable('currentBuild', h.build)
        binding.setVariable('pipeline', { Closure body ->
            def p = new PipelineDsl()
            Harness.dsl(body, p)
            h.run(p)
        })
        new GroovyShell(binding).evaluate(new File(args[1]))
        break
    default:
        usage()
}
