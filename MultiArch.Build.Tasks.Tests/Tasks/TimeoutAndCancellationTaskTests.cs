using System.Diagnostics;
using MultiArch.Build.Tasks.Tasks;
using MultiArch.Build.Tasks.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace MultiArch.Build.Tasks.Tests.Tasks;

/// <summary>
/// The tasks under a registry that hangs: the <c>RegistryTimeout</c> and <c>OperationTimeout</c> parameters (the
/// <c>ContainerRegistryTimeout</c> and <c>ContainerRegistryOperationTimeout</c> properties), and MSBuild cancellation
/// (<c>ICancelableTask.Cancel</c> from another thread, as Ctrl+C does) while a request or a credential helper hangs:
/// stopped within 5 s with one coded error, the target tag where it was.
/// </summary>
[TestClass]
public sealed class TimeoutAndCancellationTaskTests : RegistryTestBase
{
    private static readonly TimeSpan CancelWithin = TimeSpan.FromSeconds(5);

    [TestMethod]
    public async Task RegistryTimeout_ResponseHeadersThatNeverCome_MULTIARCH1008()
    {
        var (_, proxy, repository, _) = await SeedAsync("task-timeout-headers");
        proxy.When(r => r.Is("GET", "/manifests/"), FaultAction.Delay(TimeSpan.FromMinutes(2)));
        var engine = new FakeBuildEngine();
        var task = new InspectImageManifest
        {
            BuildEngine = engine,
            Environment = TestClients.Lookup(TestClients.Environment(proxy)),
            Image = proxy.Reference(repository, "previous"),
            RegistryTimeout = "0.5",
            ConfigureSettings = s => s with { RetryBaseDelay = ReliabilityKit.FastRetry },
        };

        var stopwatch = Stopwatch.StartNew();
        var result = await Task.Run(task.Execute);

        Assert.IsFalse(result);
        var error = engine.Errors.Single();
        Assert.AreEqual("MULTIARCH1008", error.Code, engine.AllText);
        StringAssert.Contains(error.Message, "timed out after 0.5 s waiting for the response headers");
        Assert.IsLessThan(TimeSpan.FromSeconds(60), stopwatch.Elapsed, "not the 2 minutes of the delay");
    }

    [TestMethod]
    public async Task OperationTimeout_ABodyThatTrickles_MULTIARCH1016_AndTheTagStaysWhereItWas()
    {
        var (server, proxy, repository, previous) = await SeedAsync("task-timeout-operation");
        proxy.When(r => r.Is("GET", "/manifests/"), FaultAction.SlowBody(TimeSpan.FromMilliseconds(200), chunkBytes: 1));

        var stopwatch = Stopwatch.StartNew();
        var (result, engine, _) = await RunPushAsync(proxy, repository, task => task.OperationTimeout = "1.5");

        Assert.IsFalse(result);
        var error = engine.Errors.Single();
        Assert.AreEqual("MULTIARCH1016", error.Code, engine.AllText);
        StringAssert.Contains(error.Message, "PushManifestList did not finish within 1.5 s and was stopped; no tag was moved.");
        Assert.IsLessThan(TimeSpan.FromSeconds(30), stopwatch.Elapsed, "stopped at the operation timeout, not after the trickling body (minutes at 1 byte per 200 ms)");
        Assert.IsEmpty(proxy.Writes(), proxy.Transcript());
        Assert.AreEqual(previous.Digest.ToString(), await RegistryContent.ResolveAsync(server, repository, "1.0", Cancel));
    }

    [TestMethod]
    [DataRow("child manifest PUT")]
    [DataRow("blob mount")]
    [DataRow("source manifest GET")]
    public async Task Cancel_WhileARequestHangs_StopsWithin5s_MULTIARCH1014_AndTheTagStaysWhereItWas(string hanging)
    {
        var (server, proxy, repository, previous) = await SeedAsync("task-cancel");
        var hit = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Func<ProxyRequest, bool> predicate = hanging switch
        {
            "child manifest PUT" => r => r.Is("PUT", "/manifests/sha256:"),
            "blob mount" => r => r.IsMount,
            _ => r => r.Is("GET", "/manifests/"),
        };
        proxy.When(predicate, FaultAction.Custom("hang", async context =>
        {
            hit.TrySetResult();
            await Task.Delay(TimeSpan.FromMinutes(2), context.Aborted);
        }));

        var (elapsed, result, engine) = await RunAndCancelAsync(proxy, repository, hit.Task);

        Assert.IsFalse(result);
        Assert.IsLessThan(CancelWithin, elapsed, "stopped within 5 s of Cancel()");
        var error = engine.Errors.Single();
        Assert.AreEqual("MULTIARCH1014", error.Code, engine.AllText);
        Assert.DoesNotContain("   at ", engine.AllText);
        Assert.IsEmpty(proxy.ExchangesFor(r => r.Is("PUT", "/manifests/1.0")), "the tag was never written");
        Assert.AreEqual(previous.Digest.ToString(), await RegistryContent.ResolveAsync(server, repository, "1.0", Cancel));
    }

    [TestMethod]
    public async Task Cancel_WhileACredentialHelperHangs_StopsWithin5s_AndKillsIt()
    {
        var server = await TestRegistries.Basic;
        var proxy = await ProxyAsync(server);
        var repository = TestNames.Repository("task-cancel-helper");
        await SkopeoPusher.PushAsync(server, repository, "1", TestImages.Image(TestImages.LinuxAmd64, "helper"), Cancel);
        using var helpers = new CredentialHelpers();
        var started = Path.Combine(helpers.Directory, "started");
        helpers.Script("hang", $"echo $$ > '{started}'\nexec sleep 120");
        helpers.Config($$"""{"credHelpers": {"{{proxy.Host}}": "hang"} }""");
        var environment = TestClients.Environment(proxy, withCredentials: false);
        environment["DOCKER_CONFIG"] = helpers.ConfigDirectory;
        environment["PATH"] = helpers.PathValue;
        var engine = new FakeBuildEngine();
        var task = new InspectImageManifest { BuildEngine = engine, Environment = TestClients.Lookup(environment), Image = proxy.Reference(repository, "1") };

        var execute = Task.Run(task.Execute);
        var stopwatch = Stopwatch.StartNew();
        while (!File.Exists(started) || new FileInfo(started).Length == 0)
        {
            Assert.IsLessThan(TimeSpan.FromSeconds(20), stopwatch.Elapsed, "the helper never started\n" + engine.AllText);
            await Task.Delay(20, Cancel);
        }

        var pid = File.ReadAllText(started).Trim();
        stopwatch.Restart();
        task.Cancel();
        var result = await execute.WaitAsync(TimeSpan.FromSeconds(30), Cancel);

        Assert.IsFalse(result);
        Assert.IsLessThan(CancelWithin, stopwatch.Elapsed);
        Assert.AreEqual("MULTIARCH1014", engine.Errors.Single().Code, engine.AllText);
        Assert.IsFalse(ReliabilityKit.IsRunning(pid), "the helper was killed");
    }

    [TestMethod]
    public async Task SdkPasswordVariable_TheNoteComesOncePerBuild_WithoutTheValue()
    {
        var server = await TestRegistries.Basic;
        var repository = TestNames.Repository("task-sdk-note");
        await SkopeoPusher.PushAsync(server, repository, "1", TestImages.Image(TestImages.LinuxAmd64, "note"), Cancel);
        var environment = TestClients.Environment(server, withCredentials: false);
        environment["DOTNET_CONTAINER_REGISTRY_UNAME"] = server.Username;
        environment["DOTNET_CONTAINER_REGISTRY_PWORD"] = server.Password;
        var engine = new FakeBuildEngine();

        for (var i = 0; i < 3; i++)
        {
            var task = new InspectImageManifest { BuildEngine = engine, Environment = TestClients.Lookup(environment), Image = server.Reference(repository, "1") };
            Assert.IsTrue(await Task.Run(task.Execute), engine.AllText);
        }

        var notes = engine.Messages.Where(m => m.Message!.Contains("came from the environment variable", StringComparison.Ordinal)).ToList();
        Assert.HasCount(1, notes, "once per build, however many tasks");
        Assert.AreEqual($"MultiArch: credentials for '{server.Host}' came from the environment variable DOTNET_CONTAINER_REGISTRY_PWORD. MSBuild records DOTNET_* variables in binary logs; prefer docker login, a credential helper, or MULTIARCH_REGISTRY_USERNAME/MULTIARCH_REGISTRY_PASSWORD.", notes[0].Message);
        Assert.AreEqual(Microsoft.Build.Framework.MessageImportance.High, notes[0].Importance);
        Assert.DoesNotContain(server.Password!, engine.AllText);
    }

    // ---------------------------------------------------------------- helpers

    /// <summary>
    /// A source repository with two images and a target repository whose tag <c>1.0</c> already points at another image
    /// (<c>previous</c>): a failed or cancelled push must leave it there.
    /// </summary>
    private async Task<(RegistryServer Server, FaultProxy Proxy, string Repository, TestImage Previous)> SeedAsync(string name)
    {
        var server = await TestRegistries.Open;
        var proxy = await ProxyAsync(server);
        var repository = TestNames.Repository(name);
        var previous = TestImages.Image(TestImages.LinuxAmd64, name + "-previous");
        await PushTestKit.SeedAsync(
            server,
            Cancel,
            (repository, "1.0", previous),
            (repository, "previous", previous),
            (repository + "-src", "amd64", TestImages.Image(TestImages.LinuxAmd64, name)),
            (repository + "-src", "arm64", TestImages.Image(TestImages.LinuxArm64, name)));
        return (server, proxy, repository, previous);
    }

    private static Task<(bool Result, FakeBuildEngine Engine, PushManifestList Task)> RunPushAsync(FaultProxy proxy, string repository, Action<PushManifestList>? configure = null)
    {
        var (task, engine) = CreatePush(proxy, repository);
        configure?.Invoke(task);
        return Task.Run(() => (task.Execute(), engine, task));
    }

    private static (PushManifestList Task, FakeBuildEngine Engine) CreatePush(FaultProxy proxy, string repository)
    {
        var engine = new FakeBuildEngine();
        var task = new PushManifestList
        {
            BuildEngine = engine,
            Environment = TestClients.Lookup(TestClients.Environment(proxy)),
            Platforms = "linux/amd64,linux/arm64/v8",
            Template = proxy.Reference(repository + "-src", "ARCH"),
            Target = proxy.Reference(repository, "1.0"),
            ConfigureSettings = s => s with { RetryBaseDelay = ReliabilityKit.FastRetry },
        };
        return (task, engine);
    }

    private async Task<(TimeSpan Elapsed, bool Result, FakeBuildEngine Engine)> RunAndCancelAsync(FaultProxy proxy, string repository, Task hit)
    {
        var (task, engine) = CreatePush(proxy, repository);
        var execute = Task.Run(task.Execute);
        await hit.WaitAsync(TimeSpan.FromSeconds(30), Cancel);
        var stopwatch = Stopwatch.StartNew();
        var cancel = new Thread(task.Cancel);
        cancel.Start();
        var result = await execute.WaitAsync(TimeSpan.FromSeconds(60), Cancel);
        return (stopwatch.Elapsed, result, engine);
    }
}
