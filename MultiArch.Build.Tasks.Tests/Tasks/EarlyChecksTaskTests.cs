using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using MultiArch.Build.Tasks.Tasks;
using MultiArch.Build.Tasks.Tests.Infrastructure;
using Task = System.Threading.Tasks.Task;

namespace MultiArch.Build.Tasks.Tests.Tasks;

/// <summary>
/// What every task checks before its first request (issue 10): files it writes at the end, the base image's platforms,
/// whether the SDK's half of a publish has credentials; and where errors are reported (a spec's line and column) and
/// how counts read.
/// </summary>
[TestClass]
public sealed class EarlyChecksTaskTests : RegistryTestBase
{
    // ---------------------------------------------------------------- output files

    /// <summary>A path the task could not write at the end: the device that is always full, a folder, a path under a regular file.</summary>
    private string Unwritable(string kind)
    {
        var directory = TempDirectory();
        switch (kind)
        {
            case "dev-full":
                return "/dev/full";
            case "folder":
                return directory;
            default:
                var file = Path.Combine(directory, "a-file");
                File.WriteAllText(file, "x");
                return Path.Combine(file, "digest.txt");
        }
    }

    [TestMethod]
    [DataRow("dev-full")]
    [DataRow("folder")]
    [DataRow("under-a-file")]
    public async Task PushManifestList_UnwritableDigestFile_FailsBeforeAnyRequest(string kind)
    {
        var proxy = await StartProxyAsync();
        var path = Unwritable(kind);
        var engine = new FakeBuildEngine();
        var task = new PushManifestList
        {
            BuildEngine = engine,
            Environment = TestClients.Lookup(TestClients.Environment(proxy)),
            Platforms = "linux/amd64",
            Template = proxy.Reference("early/digest", "1.0-OS-ARCH"),
            Target = proxy.Reference("early/digest", "1.0"),
            DigestFile = path,
        };

        Assert.IsFalse(await Task.Run(task.Execute), engine.AllText);

        var error = engine.Errors.Single();
        Assert.AreEqual("MULTIARCH4025", error.Code, engine.AllText);
        StringAssert.Contains(error.Message, $"ContainerManifestDigestFile '{path}' cannot be written");
        Assert.IsEmpty(proxy.Exchanges, proxy.Transcript());
    }

    [TestMethod]
    public async Task InspectImageManifest_UnwritableOutputFile_FailsBeforeAnyRequest()
    {
        var proxy = await StartProxyAsync();
        var engine = new FakeBuildEngine();
        var task = new InspectImageManifest
        {
            BuildEngine = engine,
            Environment = TestClients.Lookup(TestClients.Environment(proxy)),
            Image = proxy.Reference("early/inspect", "1"),
            OutputFile = "/dev/full",
        };

        Assert.IsFalse(await Task.Run(task.Execute), engine.AllText);

        Assert.AreEqual("MULTIARCH4025", engine.Errors.Single().Code, engine.AllText);
        StringAssert.Contains(engine.Errors.Single().Message, "ContainerInspectOutputFile '/dev/full'");
        Assert.IsEmpty(proxy.Exchanges, proxy.Transcript());
    }

    [TestMethod]
    public async Task TestContainerRegistry_UnwritableReport_FailsBeforeAnythingIsPushed()
    {
        var proxy = await StartProxyAsync();
        var engine = new FakeBuildEngine();
        var folder = Unwritable("folder");
        var task = new TestContainerRegistry
        {
            BuildEngine = engine,
            Environment = TestClients.Lookup(TestClients.Environment(proxy)),
            Repository = $"{proxy.Host}/early/regtest",
            ReportFile = folder,
        };

        Assert.IsFalse(await Task.Run(task.Execute), engine.AllText);

        Assert.AreEqual("MULTIARCH4025", engine.Errors.Single().Code, engine.AllText);
        StringAssert.Contains(engine.Errors.Single().Message, "it is a folder");
        Assert.IsEmpty(proxy.Exchanges, proxy.Transcript());
    }

    [TestMethod]
    public void ResolveContainerPlatforms_UnwritableDigestFile_FailsBeforeTheBuilds()
    {
        var (result, engine, _) = Resolve(new Dictionary<string, string?> { ["HOME"] = TempDirectory() }, task => task.DigestFile = "/dev/full");

        Assert.IsFalse(result);
        Assert.AreEqual("MULTIARCH4025", engine.Errors.Single().Code, engine.AllText);
    }

    [TestMethod]
    public void WritableFiles_PassTheCheck_AndAreLeftAsTheyWere()
    {
        var directory = TempDirectory();
        var existing = Path.Combine(directory, "digest.txt");
        File.WriteAllText(existing, "sha256:previous");
        var missing = Path.Combine(directory, "new", "digest.txt");

        OutputFiles.CheckWritable(existing, "ContainerManifestDigestFile");
        OutputFiles.CheckWritable(missing, "ContainerManifestDigestFile");
        OutputFiles.CheckWritable("/dev/null", "ContainerManifestDigestFile");

        Assert.AreEqual("sha256:previous", File.ReadAllText(existing));
        Assert.IsFalse(File.Exists(missing), "the probe file is removed");
    }

    // ---------------------------------------------------------------- the SDK's credentials

    [TestMethod]
    public async Task OnlyMultiArchCredentials_AreRefusedForThePublish_WithWhatToDo()
    {
        var proxy = await ProxyAsync(await TestRegistries.Basic);

        var (result, engine, _) = Resolve(new Dictionary<string, string?>
        {
            ["HOME"] = TempDirectory(),
            ["DOTNET_CONTAINER_INSECURE_REGISTRIES"] = proxy.Host,
            ["MULTIARCH_REGISTRY_USERNAME"] = "user",
            ["MULTIARCH_REGISTRY_PASSWORD"] = "secret-value",
        });

        Assert.IsFalse(result);
        var error = engine.Errors.Single();
        Assert.AreEqual("MULTIARCH4026", error.Code, engine.AllText);
        StringAssert.Contains(error.Message, "docker login " + proxy.Host);
        StringAssert.Contains(error.Message, "DOTNET_CONTAINER_REGISTRY_UNAME");
        Assert.DoesNotContain("secret-value", engine.AllText);
        Assert.IsTrue(proxy.Exchanges.All(e => e.Method == "GET" && e.Request.Path == "/v2/"), "only the version check was asked: " + proxy.Transcript());
        Assert.AreEqual(401, proxy.Exchanges[0].Status, proxy.Transcript());
    }

    /// <summary>
    /// MULTIARCH_REGISTRY_* meant for another registry (a source, the base image's) while the target takes anonymous
    /// pushes: one <c>GET /v2/</c> answered without a challenge, and the publish goes on.
    /// </summary>
    [TestMethod]
    public async Task OnlyMultiArchCredentials_ForARegistryThatAsksForNoLogin_Pass_AfterOneVersionCheck()
    {
        var proxy = await StartProxyAsync();

        var (result, engine, task) = Resolve(new Dictionary<string, string?>
        {
            ["HOME"] = TempDirectory(),
            ["DOTNET_CONTAINER_INSECURE_REGISTRIES"] = proxy.Host,
            ["MULTIARCH_REGISTRY_USERNAME"] = "user",
            ["MULTIARCH_REGISTRY_PASSWORD"] = "p",
        });

        Assert.IsTrue(result, engine.AllText);
        Assert.HasCount(2, task.Builds);
        StringAssert.Contains(engine.AllText, proxy.Host + " asks for no login");
        Assert.AreEqual("GET /v2/ -> 200", string.Join(", ", proxy.Exchanges.Select(e => $"{e.Method} {e.Request.Path} -> {e.Status}")));
    }

    [TestMethod]
    public async Task SdkCredentials_OfItsOwn_AskTheRegistryNothing()
    {
        var proxy = await ProxyAsync(await TestRegistries.Basic);

        var (result, engine, _) = Resolve(new Dictionary<string, string?>
        {
            ["HOME"] = TempDirectory(),
            ["DOTNET_CONTAINER_INSECURE_REGISTRIES"] = proxy.Host,
            ["MULTIARCH_REGISTRY_USERNAME"] = "user",
            ["MULTIARCH_REGISTRY_PASSWORD"] = "p",
            ["DOTNET_CONTAINER_REGISTRY_UNAME"] = "user",
            ["DOTNET_CONTAINER_REGISTRY_PWORD"] = "p",
        });

        Assert.IsTrue(result, engine.AllText);
        Assert.IsEmpty(proxy.Exchanges, proxy.Transcript());
    }

    [TestMethod]
    public void OnlyMultiArchCredentials_ForARegistryThatCannotBeAsked_AreRefused()
    {
        var (result, engine, _) = Resolve(new Dictionary<string, string?>
        {
            ["HOME"] = TempDirectory(),
            ["DOTNET_CONTAINER_INSECURE_REGISTRIES"] = "127.0.0.1:" + RegistryServer.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["MULTIARCH_REGISTRY_USERNAME"] = "user",
            ["MULTIARCH_REGISTRY_PASSWORD"] = "p",
        });

        Assert.IsFalse(result);
        Assert.AreEqual("MULTIARCH4026", engine.Errors.Single().Code, engine.AllText);
    }

    [TestMethod]
    [DataRow("DOTNET_CONTAINER_REGISTRY_")]
    [DataRow("DOTNET_CONTAINER_PUSH_REGISTRY_")]
    [DataRow("SDK_CONTAINER_REGISTRY_")]
    [DataRow("auths")]
    [DataRow("credHelpers")]
    [DataRow("credsStore")]
    [DataRow("REGISTRY_AUTH_FILE")]
    public void MultiArchCredentials_WithAnySdkSource_Pass(string source)
    {
        var home = TempDirectory();
        var environment = new Dictionary<string, string?> { ["HOME"] = home, ["MULTIARCH_REGISTRY_USERNAME"] = "user", ["MULTIARCH_REGISTRY_PASSWORD"] = "p" };
        var auth = Convert.ToBase64String(Encoding.UTF8.GetBytes("user:p"));
        switch (source)
        {
            case "auths":
                Directory.CreateDirectory(Path.Combine(home, ".docker"));
                File.WriteAllText(Path.Combine(home, ".docker", "config.json"), "{\"auths\":{\"https://registry.test:5000/v1/\":{\"auth\":\"" + auth + "\"}}}");
                break;
            case "credHelpers":
                environment["DOCKER_CONFIG"] = home;
                File.WriteAllText(Path.Combine(home, "config.json"), "{\"credHelpers\":{\"registry.test:5000\":\"pass\"}}");
                break;
            case "credsStore":
                environment["DOCKER_CONFIG"] = home;
                File.WriteAllText(Path.Combine(home, "config.json"), "{\"credsStore\":\"desktop\"}");
                break;
            case "REGISTRY_AUTH_FILE":
                environment["REGISTRY_AUTH_FILE"] = Path.Combine(home, "auth.json");
                File.WriteAllText(Path.Combine(home, "auth.json"), "{\"auths\":{\"registry.test:5000\":{\"auth\":\"" + auth + "\"}}}");
                break;
            default:
                environment[source + "UNAME"] = "user";
                environment[source + "PWORD"] = "p";
                break;
        }

        var (result, engine, task) = Resolve(environment);

        Assert.IsTrue(result, engine.AllText);
        Assert.HasCount(2, task.Builds);
    }

    [TestMethod]
    public async Task AnAuthFileForAnotherRegistry_DoesNotCount()
    {
        var home = TempDirectory();
        Directory.CreateDirectory(Path.Combine(home, ".docker"));
        File.WriteAllText(Path.Combine(home, ".docker", "config.json"), "{\"auths\":{\"other.test\":{\"auth\":\"dTpw\"}}}");

        var proxy = await ProxyAsync(await TestRegistries.Basic);

        var (result, engine, _) = Resolve(new Dictionary<string, string?>
        {
            ["HOME"] = home,
            ["DOTNET_CONTAINER_INSECURE_REGISTRIES"] = proxy.Host,
            ["MULTIARCH_REGISTRY_USERNAME"] = "user",
            ["MULTIARCH_REGISTRY_PASSWORD"] = "p",
        });

        Assert.IsFalse(result);
        Assert.AreEqual("MULTIARCH4026", engine.Errors.Single().Code, engine.AllText);
    }

    [TestMethod]
    [DataRow("docker.io", "https://index.docker.io/v1/", true)]
    [DataRow("registry.test:5000", "registry.test:5000", true)]
    [DataRow("registry.test:5000", "https://registry.test:5000", true)]
    [DataRow("registry.test:5000", "registry.test", false)]
    public void AuthsKeys_MatchTheRegistryAsDockerLoginWritesThem(string registry, string key, bool expected)
    {
        var home = TempDirectory();
        File.WriteAllText(Path.Combine(home, "config.json"), "{\"auths\":{\"" + key + "\":{\"auth\":\"dTpw\"}}}");

        Assert.AreEqual(expected, MultiArch.Build.Tasks.Registry.SdkCredentialSources.HasAny(registry, name => name switch { "HOME" => home, "DOCKER_CONFIG" => home, _ => null }));
    }

    // ---------------------------------------------------------------- the base image

    [TestMethod]
    public async Task BaseImageWithoutAPlatform_IsFoundBeforeTheBuilds()
    {
        var registry = await TestRegistries.Open;
        var repository = TestNames.Repository("early-base");
        await SkopeoPusher.PushAsync(registry, repository, "amd64", TestImages.Image(TestImages.LinuxAmd64, "early-base"), Cancel);
        await SkopeoPusher.PushAsync(registry, repository, "index", TestImages.Index([TestImages.LinuxAmd64, TestImages.LinuxArm64], "early-base"), Cancel);
        var environment = TestClients.Environment(registry, withCredentials: false);
        environment["HOME"] = TempDirectory();

        var (single, singleEngine, _) = Resolve(environment, task => task.BaseImage = registry.Reference(repository, "amd64"));
        var (index, indexEngine, _) = Resolve(environment, task => task.BaseImage = registry.Reference(repository, "index"));

        Assert.IsFalse(single);
        var error = singleEngine.Errors.Single();
        Assert.AreEqual("MULTIARCH2022", error.Code, singleEngine.AllText);
        StringAssert.Contains(error.Message, $"'{registry.Reference(repository, "amd64")}' has no image for linux/arm64/v8 (it has: linux/amd64)");
        Assert.IsTrue(index, indexEngine.AllText);
    }

    // ---------------------------------------------------------------- where errors point, how counts read

    [TestMethod]
    public void SpecError_IsReportedAtTheSpecsLineAndColumn_WithoutRepeatingThem()
    {
        var spec = Path.Combine(TempDirectory(), "spec.yaml");
        File.WriteAllText(spec, "image: registry.test/app:1\nplatforms: [linux/amd64]\nmanifests:\n  - image: registry.test/app:amd64\n");
        var engine = new FakeBuildEngine();
        var task = new PushManifestList { BuildEngine = engine, Environment = _ => null, Spec = spec };

        Assert.IsFalse(task.Execute());

        var error = engine.Errors.Single();
        Assert.AreEqual("MULTIARCH3003", error.Code);
        Assert.AreEqual(Path.GetFullPath(spec), error.File, "the error is located in the spec, not in the targets");
        Assert.AreEqual(2, error.LineNumber);
        Assert.AreEqual(1, error.ColumnNumber);
        StringAssert.StartsWith(error.Message, "unknown key 'platforms'");
        Assert.DoesNotContain("spec.yaml", error.Message, "MSBuild prints the location; the message does not repeat it");
    }

    [TestMethod]
    public async Task OnePlatform_ReadsOnePlatform()
    {
        var registry = await TestRegistries.Open;
        var repository = TestNames.Repository("early-one");
        await SkopeoPusher.PushAsync(registry, repository, "amd64", TestImages.Image(TestImages.LinuxAmd64, "early-one"), Cancel);
        var engine = new FakeBuildEngine();
        var item = new TaskItem("linux/amd64");
        item.SetMetadata("Image", registry.Reference(repository, "amd64"));
        var task = new PushManifestList
        {
            BuildEngine = engine,
            Environment = TestClients.Lookup(TestClients.Environment(registry)),
            Sources = [item],
            Target = registry.Reference(repository, "1"),
            DryRun = true,
        };

        Assert.IsTrue(await Task.Run(task.Execute), engine.AllText);

        StringAssert.Contains(engine.HighText, "(1 platform: linux/amd64)");
    }

    [TestMethod]
    public async Task AnEngineWithoutBuildWideObjects_TheTaskUsesACacheOfItsOwn()
    {
        var registry = await TestRegistries.Token;
        var repository = TestNames.Repository("early-taskhost");
        await SkopeoPusher.PushAsync(registry, repository, "1", TestImages.Image(TestImages.LinuxAmd64, "early-taskhost"), Cancel);
        var engine = new FakeBuildEngine { WithoutTaskObjects = true };
        var task = new InspectImageManifest { BuildEngine = engine, Environment = TestClients.Lookup(TestClients.Environment(registry)), Image = registry.Reference(repository, "1") };

        Assert.IsTrue(await Task.Run(task.Execute), engine.AllText);

        Assert.IsNotNull(task.Digest);
        StringAssert.Contains(engine.AllText, "keeps no build-wide objects here (NotImplementedException)");
    }

    // ---------------------------------------------------------------- helpers

    private (bool Result, FakeBuildEngine Engine, ResolveContainerPlatforms Task) Resolve(IReadOnlyDictionary<string, string?> environment, Action<ResolveContainerPlatforms>? configure = null)
    {
        var engine = new FakeBuildEngine();
        var registry = environment.TryGetValue("DOTNET_CONTAINER_INSECURE_REGISTRIES", out var insecure) && insecure is not null ? insecure.Split(';')[0] : "registry.test:5000";
        var task = new ResolveContainerPlatforms
        {
            BuildEngine = engine,
            Environment = TestClients.Lookup(environment),
            RuntimeIdentifiers = "linux-x64;linux-arm64",
            Registry = registry,
            Repository = "early/app",
            Tag = "1",
            Purpose = "PublishMultiArchContainer",
            CheckSdkCredentials = true,
        };
        configure?.Invoke(task);
        var result = task.Execute();
        return (result, engine, task);
    }

    private async Task<FaultProxy> StartProxyAsync() => await ProxyAsync(await TestRegistries.Open);

    private string TempDirectory()
    {
        var directory = Path.Combine(Path.GetTempPath(), "multiarch-tests", "early-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        Resources.AddDirectory(directory);
        return directory;
    }
}
