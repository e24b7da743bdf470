import Glibc
import TestSupport

/// Writes `text` to a new file in a new temporary folder. - Returns: the file's path.
func writeConfigFile(_ text: String, name: String = "swregistry.yml") -> String {
    let directory = makeTemporaryDirectory(prefix: "swr-config")
    let path = directory + "/" + name
    let file = fopen(path, "w")!
    fputs(text, file)
    fclose(file)
    return path
}
