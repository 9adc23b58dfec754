"""Examples to run: ``python -m dezero_ext_nn.examples.spiral`` (an MLP on the spiral data)
and ``python -m dezero_ext_nn.examples.sin_lstm`` (an LSTM predicting a sine wave);
``python -m dezero_ext_nn.examples.digits_dask`` trains the digits MLP from a Dask array.

They show a progress bar with tqdm and draw pictures with matplotlib when those are
installed (``pip install 'dezero-ext-nn[examples]'``); without them they train all the same
and say what they skipped.
"""
