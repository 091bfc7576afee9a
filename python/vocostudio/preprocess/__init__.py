from .preprocess import PreprocessSettings, preprocess_array, preprocess_file, load_scan
