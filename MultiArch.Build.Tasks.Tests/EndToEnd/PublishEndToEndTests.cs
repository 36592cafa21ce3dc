using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Registry;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.EndToEnd;

/// <summary>
/// <c>dotnet publish -t:PublishMultiArchContainer</c> of a real app consuming the packed package, through the SDK's own
/// container support, against the loopback registry; and the stitch-only mode from separately published images.
/// </summary>
[TestClass]
public sealed class PublishEndToEndTests
{
    private const string Label = "https://example.com:8443/app?x=1&y=2";
    private const string Endpoint = "http://localhost:8080/api";

    public TestContext TestContext { get; set; } = null!;

    private static string AppProject(string extra) => $"""
          <PropertyGroup>
            <OutputType>Exe</OutputType>
            <RuntimeIdentifiers>linux-x64;linux-arm64</RuntimeIdentifiers>
            <RepositoryUrl>https://example.com/source.git</RepositoryUrl>
            <SourceRevisionId>0123abcd</SourceRevisionId>
            <ContainerUser>1234</ContainerUser>
            <ContainerWorkingDirectory>/srv/app/</ContainerWorkingDirectory>
          </PropertyGroup>
          <ItemGroup>
            <ContainerLabel Include="org.opencontainers.image.url" Value="{Label.Replace("&", "&amp;", StringComparison.Ordinal)}" />
            <ContainerEnvironmentVariable Include="APP_ENDPOINT" Value="{Endpoint}" />
            <ContainerPort Include="8080" Type="tcp" />
          </ItemGroup>
        {extra}
        """;

    private async Task<TestProject> CreateAppAsync(string name, string extra)
    {
        var project = await TestProject.CreateAsync(name, AppProject(extra), TestContext.CancellationToken);
        await File.WriteAllTextAsync(Path.Combine(project.Directory, "Program.cs"), "System.Console.WriteLine(\"hello\");\n", TestContext.CancellationToken);
        return project;
    }

    /// <summary>A base image with one entry per platform given, pushed by skopeo.</summary>
    private async Task<string> SeedBaseAsync(RegistryServer registry, IReadOnlyList<Platform> platforms, ImageFormat format)
    {
        var repository = TestNames.Repository("e2e-base");
        await SkopeoPusher.PushAsync(registry, repository, "1", TestImages.Index(platforms, "base-" + format, format), TestContext.CancellationToken);
        return registry.Reference(repository, "1");
    }

    [TestMethod]
    public async Task PublishesEveryPlatformAndStitchesThemWithAnExistingImage()
    {
        var registry = await TestRegistries.Open;
        var repository = TestNames.Repository("e2e-publish");
        var baseImage = await SeedBaseAsync(registry, [TestImages.LinuxAmd64, TestImages.LinuxArm64], ImageFormat.Oci);
        var armv7 = TestImages.Image(TestImages.LinuxArmV7, "built-elsewhere");
        var armRepository = TestNames.Repository("e2e-armv7");
        await SkopeoPusher.PushAsync(registry, armRepository, "1", armv7, TestContext.CancellationToken);
        var project = await CreateAppAsync("publish", $"""
              <ItemGroup>
                <ContainerPlatforms Include="linux/amd64;linux/arm64" Annotations="org.opencontainers.image.description=built here" />
                <ContainerPlatforms Include="linux/arm/v7" Image="{registry.Reference(armRepository, "1")}" />
              </ItemGroup>
            """);

        var result = await project.PublishAsync(
            new()
            {
                ["ContainerRegistry"] = registry.Host,
                ["ContainerRepository"] = repository,
                ["ContainerBaseImage"] = baseImage,
                ["ContainerImageTags"] = "1.0.0;latest",
                ["ContainerManifestAnnotations"] = "org.opencontainers.image.title=Sample",
            },
            TestProject.RegistryEnvironment(registry),
            ["-t:PublishMultiArchContainer"],
            TestContext.CancellationToken);

        result.ShouldSucceed()
            .ShouldContain($"Pushed {registry.Host}/{repository}:1.0.0@sha256:")
            .ShouldContain("(3 platforms: linux/amd64, linux/arm64/v8, linux/arm/v7)");

        using var client = TestClients.Client(registry);
        var reference = ImageReference.Parse(registry.Reference(repository, "1.0.0"));
        var index = (ImageIndex)await client.GetManifestAsync(reference, TestContext.CancellationToken);
        var latest = await client.HeadManifestAsync(reference.WithTag("latest"), TestContext.CancellationToken);
        Assert.AreEqual(index.Digest, latest?.Digest, "every tag resolves to the index");
        Assert.AreEqual(MediaTypes.OciIndex, index.MediaType);
        CollectionAssert.AreEqual(
            new[] { "linux/amd64", "linux/arm64/v8", "linux/arm/v7" },
            index.Manifests.Select(m => m.Platform!.ToString()).ToArray());
        Assert.AreEqual(armv7.Digest, index.Manifests[2].Digest, "the existing image joins as it is");
        Assert.AreEqual("built here", index.Manifests[0].Annotations["org.opencontainers.image.description"]);
        Assert.AreEqual("Sample", index.Annotations["org.opencontainers.image.title"]);
        Assert.AreEqual("https://example.com/source.git", index.Annotations["org.opencontainers.image.source"]);
        Assert.AreEqual("0123abcd", index.Annotations["org.opencontainers.image.revision"]);

        foreach (var entry in index.Manifests)
        {
            var manifest = (ImageManifest)await client.GetManifestAsync(reference.WithDigest(entry.Digest), TestContext.CancellationToken);
            var config = ImageConfig.Parse(await client.GetBlobAsync(reference, manifest.Config, TestContext.CancellationToken), "config");
            Assert.AreEqual(entry.Platform!.Architecture, config.Platform.Architecture, $"{entry.Platform}: the config agrees with the entry");
            if (entry.Digest != armv7.Digest)
            {
                Assert.AreEqual(Label, config.Labels["org.opencontainers.image.url"], "a label with colons arrives intact");
                Assert.Contains($"APP_ENDPOINT={Endpoint}", config.Env);
                Assert.Contains("8080/tcp", config.ExposedPorts, "ports reach every per-platform build");
                Assert.AreEqual("1234", config.User);
                Assert.AreEqual("/srv/app/", config.WorkingDir);
            }
        }

        // An independent client reads what we wrote.
        var raw = await SkopeoPusher.SkopeoInspectRawAsync(registry, registry.Reference(repository, "latest"), cancellationToken: TestContext.CancellationToken);
        CollectionAssert.AreEqual(index.Raw.ToArray(), raw);
    }

    [TestMethod]
    public async Task DockerFormatBaseGivesADockerManifestList()
    {
        var registry = await TestRegistries.Open;
        var repository = TestNames.Repository("e2e-docker");
        var baseImage = await SeedBaseAsync(registry, [TestImages.LinuxAmd64, TestImages.LinuxArm64], ImageFormat.Docker);
        var project = await CreateAppAsync("publish-docker", """
              <ItemGroup>
                <ContainerPlatforms Include="linux/amd64;linux/arm64" />
              </ItemGroup>
            """);
        var result = await project.PublishAsync(
            new() { ["ContainerRegistry"] = registry.Host, ["ContainerRepository"] = repository, ["ContainerBaseImage"] = baseImage, ["ContainerImageTag"] = "2" },
            TestProject.RegistryEnvironment(registry),
            ["-t:PublishMultiArchContainer"],
            TestContext.CancellationToken);
        result.ShouldSucceed().ShouldContain("(2 platforms: linux/amd64, linux/arm64/v8)");
        using var client = TestClients.Client(registry);
        var index = (ImageIndex)await client.GetManifestAsync(ImageReference.Parse(registry.Reference(repository, "2")), TestContext.CancellationToken);
        Assert.AreEqual(MediaTypes.DockerManifestList, index.MediaType);
        Assert.IsTrue(index.Manifests.All(m => m.MediaType == MediaTypes.DockerManifest));
        Assert.IsEmpty(index.Annotations, "a Docker list carries no annotations");
    }

    [TestMethod]
    public async Task StitchOnlyCombinesImagesPublishedSeparately()
    {
        var registry = await TestRegistries.Basic;
        var repository = TestNames.Repository("e2e-stitch");
        var baseImage = await SeedBaseAsync(registry, [TestImages.LinuxAmd64, TestImages.LinuxArm64], ImageFormat.Oci);
        var project = await CreateAppAsync("stitch", string.Empty);
        // `docker login` as a CI runner would do it: the SDK and this package both read the docker config.
        var dockerConfig = Path.Combine(project.Directory, "docker-config");
        Directory.CreateDirectory(dockerConfig);
        var auth = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{registry.Username}:{registry.Password}"));
        await File.WriteAllTextAsync(Path.Combine(dockerConfig, "config.json"), "{\"auths\":{\"" + registry.Host + "\":{\"auth\":\"" + auth + "\"}}}", TestContext.CancellationToken);
        var environment = TestProject.RegistryEnvironment(registry, withCredentials: false);
        environment["DOCKER_CONFIG"] = dockerConfig;
        var common = new Dictionary<string, string> { ["ContainerRegistry"] = registry.Host, ["ContainerRepository"] = repository };

        // Two "runners", each publishing its own platform with the SDK alone.
        foreach (var rid in new[] { "linux-x64", "linux-arm64" })
        {
            var perPlatform = new Dictionary<string, string>(common) { ["ContainerBaseImage"] = baseImage, ["ContainerImageTag"] = "3.0-" + rid };
            (await project.PublishAsync(perPlatform, environment, ["-t:PublishContainer", "-r", rid], TestContext.CancellationToken)).ShouldSucceed();
        }

        var stitch = new Dictionary<string, string>(common) { ["ContainerImageTags"] = "3.0;3", ["ContainerRuntimeIdentifiers"] = "linux-x64;linux-arm64" };
        var result = await project.MSBuildAsync("PushContainerManifestList", stitch, environment, cancellationToken: TestContext.CancellationToken);
        result.ShouldSucceed().ShouldContain("(2 platforms: linux/amd64, linux/arm64/v8)");

        using var client = TestClients.Client(registry);
        var reference = ImageReference.Parse(registry.Reference(repository, "3"));
        var index = (ImageIndex)await client.GetManifestAsync(reference, TestContext.CancellationToken);
        var x64 = await client.HeadManifestAsync(reference.WithTag("3.0-linux-x64"), TestContext.CancellationToken);
        Assert.AreEqual(x64!.Digest, index.Manifests[0].Digest, "the per-platform image is used as published, not rebuilt");
        Assert.AreEqual("v8", index.Manifests[1].Platform!.Variant, "the variant the SDK leaves out is kept");
    }

    [TestMethod]
    public async Task Arm64AppOnAnAmd64OnlyBaseIsACodedErrorBeforeAnythingIsBuilt()
    {
        var registry = await TestRegistries.Open;
        var repository = TestNames.Repository("e2e-mislabel");
        // A single-platform base (not an index): the SDK builds the arm64 app on it and labels the image amd64.
        var baseRepository = TestNames.Repository("e2e-amd64-only");
        await SkopeoPusher.PushAsync(registry, baseRepository, "1", TestImages.Image(TestImages.LinuxAmd64, "amd64-only"), TestContext.CancellationToken);
        var baseImage = registry.Reference(baseRepository, "1");
        var project = await CreateAppAsync("mislabel", """
              <ItemGroup>
                <ContainerPlatforms Include="linux/amd64;linux/arm64" />
              </ItemGroup>
            """);
        var result = await project.PublishAsync(
            new() { ["ContainerRegistry"] = registry.Host, ["ContainerRepository"] = repository, ["ContainerBaseImage"] = baseImage, ["ContainerImageTag"] = "1" },
            TestProject.RegistryEnvironment(registry),
            ["-t:PublishMultiArchContainer"],
            TestContext.CancellationToken);
        // Found from the base image's manifest before the per-platform builds, not from the mislabelled image after them.
        result.ShouldFailWith("MULTIARCH2022").ShouldContain("linux/arm64/v8").ShouldContain("it has: linux/amd64").ShouldShowNoStackTrace()
            .ShouldNotContain("Building image", "a per-platform publish");
        using var client = TestClients.Client(registry);
        Assert.IsNull(await client.HeadManifestAsync(ImageReference.Parse(registry.Reference(repository, "1")), TestContext.CancellationToken), "no index was pushed");
        Assert.IsNull(await client.HeadManifestAsync(ImageReference.Parse(registry.Reference(repository, "1-linux-x64")), TestContext.CancellationToken), "no per-platform image was pushed");
    }

    [TestMethod]
    [DataRow("""<ContainerPlatforms Include="linux/amd64" RuntimeIdentifier="linux-banana" />""", true, "", "MULTIARCH4010")]
    [DataRow("""<ContainerPlatforms Include="linux/amd64" RuntimeIdentifier="linux-arm64" />""", true, "", "MULTIARCH4012")]
    [DataRow("""<ContainerPlatforms Include="linux/amd64" />""", false, "", "MULTIARCH4013")]
    [DataRow("""<ContainerPlatforms Include="linux/amd64" />""", true, "Not/Valid", "MULTIARCH4014")]
    [DataRow("""<ContainerPlatforms Include="linux/s390x" />""", true, "", "MULTIARCH4015")]
    public async Task BadInputFailsBeforeAnythingIsBuilt(string items, bool withRegistry, string repository, string code)
    {
        var registry = await TestRegistries.Open;
        var project = await CreateAppAsync("bad-" + code, $"<ItemGroup>{items}</ItemGroup>");
        var properties = new Dictionary<string, string> { ["ContainerRepository"] = repository };
        if (withRegistry)
        {
            properties["ContainerRegistry"] = registry.Host;
        }

        var result = await project.PublishAsync(properties, TestProject.RegistryEnvironment(registry), ["-t:PublishMultiArchContainer"], TestContext.CancellationToken);
        result.ShouldFailWith(code).ShouldShowNoStackTrace().ShouldNotContain("Building image", "a per-platform publish");
    }
}
