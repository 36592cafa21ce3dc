using System.Formats.Tar;
using System.IO.Compression;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.EndToEnd;

/// <summary>
/// PublishMultiArchContainer compiles the app once and every platform's publish takes that assembly
/// (ContainerPublishCompileOnce): the images hold the same files as with one compile per platform, and differ only in
/// the app assembly's PE header (platform-neutral instead of x64 or arm64), its pdb path and the ids that follow.
/// </summary>
[TestClass]
public sealed class CompileOnceEndToEndTests
{
    public TestContext TestContext { get; set; } = null!;

    private CancellationToken Cancel => TestContext.CancellationToken;

    [TestMethod]
    public async Task ImagesHoldWhatOneCompilePerPlatformGives()
    {
        var (registry, repository, project, common) = await TwoPlatformAppAsync("compile-once", string.Empty, "System.Console.WriteLine(\"hello\");\n");
        Dictionary<string, string> Properties(string tag, bool compileOnce) => new(common)
        {
            ["ContainerImageTag"] = tag,
            ["ContainerPublishCompileOnce"] = compileOnce ? "true" : "false",
        };

        // One compile per platform first, then the same tree with one compile for all (the switch rebuilds nothing
        // but takes the shared assembly, which is what an edit does too).
        // -v:n shows on which MSBuild node each platform's publish runs.
        var perRidBuild = (await project.BuildAsync(Properties("per-rid", compileOnce: false), TestProject.RegistryEnvironment(registry), ["-c", "Release", "-t:PublishMultiArchContainer", "-v:n"], Cancel))
            .ShouldSucceed()
            .ShouldNotContain(OneAfterAnother, "platforms that compile published one after another");
        Assert.HasCount(2, PlatformNodes(perRidBuild), perRidBuild.Output);
        var obj = Path.Combine(project.Directory, "obj", "Release", "net10.0");
        Assert.AreEqual(Machine.Amd64, MachineOf(Path.Combine(obj, "linux-x64", "app.dll")), "the opt-out compiles per platform");
        var onceBuild = (await project.BuildAsync(Properties("once", compileOnce: true), TestProject.RegistryEnvironment(registry), ["-c", "Release", "-t:PublishMultiArchContainer", "-v:n"], Cancel))
            .ShouldSucceed()
            .ShouldNotContain("compiles on its own", "a fall back to a per-platform compile")
            .ShouldContain(OneAfterAnother);
        // Platforms that take the shared compile publish in the build's own process (node 1) where a worker process would
        // start afresh (the test builds run with MSBUILDDISABLENODEREUSE=1).
        CollectionAssert.AreEqual(new[] { "1", "1" }, PlatformNodes(onceBuild), onceBuild.Output);

        // Where MSBuild keeps its worker processes for the next build (no MSBUILDDISABLENODEREUSE), side by side as before
        // (-nr:false on the test's command line still ends them after the build).
        var reuseEnvironment = TestProject.RegistryEnvironment(registry);
        reuseEnvironment["MSBUILDDISABLENODEREUSE"] = null;
        var reuseBuild = (await project.BuildAsync(Properties("once-reuse", compileOnce: true), reuseEnvironment, ["-c", "Release", "-t:PublishMultiArchContainer", "-v:n"], Cancel))
            .ShouldSucceed()
            .ShouldNotContain(OneAfterAnother, "platforms published one after another where worker processes are kept");
        if (Environment.ProcessorCount > 1)
        {
            Assert.HasCount(2, PlatformNodes(reuseBuild).Distinct(), reuseBuild.Output);
        }
        var shared = await File.ReadAllBytesAsync(Path.Combine(obj, "app.dll"), Cancel);
        foreach (var rid in new[] { "linux-x64", "linux-arm64" })
        {
            CollectionAssert.AreEqual(shared, await File.ReadAllBytesAsync(Path.Combine(obj, rid, "app.dll"), Cancel), $"{rid} takes the shared assembly");
        }

        using var client = TestClients.Client(registry);
        foreach (var (rid, machine) in new[] { ("linux-x64", Machine.Amd64), ("linux-arm64", Machine.Arm64) })
        {
            var perRid = await AppFilesAsync(client, registry, repository, $"per-rid-{rid}");
            var once = await AppFilesAsync(client, registry, repository, $"once-{rid}");
            CollectionAssert.AreEquivalent(perRid.Keys.ToArray(), once.Keys.ToArray(), $"{rid}: the same files");
            Assert.IsTrue(once.ContainsKey("app/app") && once.ContainsKey("app/app.deps.json"), $"{rid}: the apphost and deps.json are there: {string.Join(", ", once.Keys)}");
            foreach (var (name, bytes) in once)
            {
                if (name is not ("app/app.dll" or "app/app.pdb"))
                {
                    CollectionAssert.AreEqual(perRid[name], bytes, $"{rid}: {name} is the same (apphost, deps.json and runtimeconfig stay per platform)");
                }
            }

            Assert.AreEqual(machine, MachineOf(perRid["app/app.dll"]), $"{rid}: a per-platform compile marks the assembly");
            Assert.AreEqual(Machine.I386, MachineOf(once["app/app.dll"]), $"{rid}: the shared assembly is platform-neutral");
            CollectionAssert.AreEqual(MethodBodies(perRid["app/app.dll"]), MethodBodies(once["app/app.dll"]), $"{rid}: the same IL");
        }
    }

    [TestMethod]
    public async Task APlatformWhoseCompileInputsDifferCompilesOnItsOwn()
    {
        var (registry, repository, project, common) = await TwoPlatformAppAsync("compile-own", """
              <PropertyGroup Condition="'$(RuntimeIdentifier)' == 'linux-arm64'">
                <DefineConstants>$(DefineConstants);ARM</DefineConstants>
              </PropertyGroup>
            """, "#if ARM\nSystem.Console.WriteLine(\"compiled for arm64\");\n#else\nSystem.Console.WriteLine(\"other\");\n#endif\n");

        (await project.BuildAsync(
            common,
            TestProject.RegistryEnvironment(registry),
            ["-c", "Release", "-t:PublishMultiArchContainer"],
            Cancel))
            .ShouldSucceed()
            .ShouldContain("MultiArch: linux-arm64 compiles on its own")
            .ShouldNotContain("linux-x64 compiles on its own", "a fall back where the inputs are the same");
        var obj = Path.Combine(project.Directory, "obj", "Release", "net10.0");
        var shared = await File.ReadAllBytesAsync(Path.Combine(obj, "app.dll"), Cancel);
        CollectionAssert.AreEqual(shared, await File.ReadAllBytesAsync(Path.Combine(obj, "linux-x64", "app.dll"), Cancel), "linux-x64 takes the shared assembly");
        var arm = await File.ReadAllBytesAsync(Path.Combine(obj, "linux-arm64", "app.dll"), Cancel);
        Assert.AreEqual(Machine.Arm64, MachineOf(arm), "linux-arm64 is compiled for itself");
        var armOnly = System.Text.Encoding.Unicode.GetBytes("compiled for arm64");
        Assert.IsTrue(arm.AsSpan().IndexOf(armOnly) >= 0 && shared.AsSpan().IndexOf(armOnly) < 0, "linux-arm64 is compiled with its own constant");
    }

    /// <summary>
    /// An Exe for linux/amd64 and linux/arm64 (<paramref name="extraProjectXml"/> added, <paramref name="program"/> as
    /// Program.cs) on a two-platform base image in the open test registry, and the properties every publish of it sets.
    /// </summary>
    private async Task<(RegistryServer Registry, string Repository, TestProject Project, Dictionary<string, string> Properties)> TwoPlatformAppAsync(string name, string extraProjectXml, string program)
    {
        var registry = await TestRegistries.Open;
        var repository = TestNames.Repository("e2e-" + name);
        var baseRepository = TestNames.Repository("e2e-" + name + "-base");
        await SkopeoPusher.PushAsync(registry, baseRepository, "1", TestImages.Index([TestImages.LinuxAmd64, TestImages.LinuxArm64], name), Cancel);
        var project = await TestProject.CreateAsync(name, $"""
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <RuntimeIdentifiers>linux-x64;linux-arm64</RuntimeIdentifiers>
              </PropertyGroup>
            {extraProjectXml}
              <ItemGroup>
                <ContainerPlatforms Include="linux/amd64;linux/arm64" />
              </ItemGroup>
            """, Cancel);
        await File.WriteAllTextAsync(Path.Combine(project.Directory, "Program.cs"), program, Cancel);
        var properties = new Dictionary<string, string>
        {
            ["ContainerRegistry"] = registry.Host,
            ["ContainerRepository"] = repository,
            ["ContainerBaseImage"] = registry.Reference(baseRepository, "1"),
        };
        return (registry, repository, project, properties);
    }

    private const string OneAfterAnother = "MultiArch: the platforms publish one after another in this process";

    /// <summary>The MSBuild node of each per-platform publish, from the console at normal verbosity.</summary>
    private static string[] PlatformNodes(BuildResult build) =>
        [.. System.Text.RegularExpressions.Regex.Matches(build.Output, @" on node (\d+) \(_MultiArchPublishPlatform target\(s\)\)").Select(m => m.Groups[1].Value)];

    /// <summary>The files of the image's last layer (the app's), by path.</summary>
    private async Task<Dictionary<string, byte[]>> AppFilesAsync(MultiArch.Build.Tasks.Registry.RegistryClient client, RegistryServer registry, string repository, string tag)
    {
        var reference = ImageReference.Parse(registry.Reference(repository, tag));
        var manifest = (ImageManifest)await client.GetManifestAsync(reference, Cancel);
        var layer = await client.GetBlobAsync(reference, manifest.Layers[^1], Cancel);
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        using var tar = new TarReader(new GZipStream(new MemoryStream(layer), CompressionMode.Decompress));
        while (await tar.GetNextEntryAsync(copyData: true, Cancel) is { } entry)
        {
            if (entry.DataStream is { } data)
            {
                using var content = new MemoryStream();
                await data.CopyToAsync(content, Cancel);
                files[entry.Name.TrimStart('.', '/')] = content.ToArray();
            }
        }

        return files;
    }

    private static Machine MachineOf(string path) => MachineOf(File.ReadAllBytes(path));

    private static Machine MachineOf(byte[] assembly)
    {
        using var pe = new PEReader(new MemoryStream(assembly));
        return pe.PEHeaders.CoffHeader.Machine;
    }

    /// <summary>Every method's name and IL, in metadata order.</summary>
    private static string[] MethodBodies(byte[] assembly)
    {
        using var pe = new PEReader(new MemoryStream(assembly));
        var metadata = pe.GetMetadataReader();
        return metadata.MethodDefinitions.Select(handle =>
        {
            var method = metadata.GetMethodDefinition(handle);
            var il = method.RelativeVirtualAddress == 0 ? [] : pe.GetMethodBody(method.RelativeVirtualAddress).GetILBytes() ?? [];
            return metadata.GetString(method.Name) + ":" + Convert.ToHexString(il);
        }).ToArray();
    }
}
